/*
 * The YAML document as a tree of nodes that remember where they stood in the
 * file. All nodes of one document live in one arena (struct node_doc) and are
 * freed together; an alias shares the node it names.
 */
#ifndef GETBOT_NODE_H
#define GETBOT_NODE_H

#include <stdbool.h>
#include <stddef.h>

enum node_kind {
	NODE_SCALAR,
	NODE_MAPPING,
	NODE_SEQUENCE,
};

/* A scalar's type under the YAML 1.2 core schema; quoted means string. */
enum node_scalar_type {
	SCALAR_NULL,
	SCALAR_BOOL,
	SCALAR_INT,
	SCALAR_FLOAT,
	SCALAR_STRING,
};

struct node;

struct node_pair {
	struct node *key; /* always a scalar */
	struct node *value;
};

struct node {
	enum node_kind kind;
	unsigned line; /* 1-based, in characters */
	unsigned column;

	/* NODE_SCALAR */
	enum node_scalar_type scalar_type;
	char *value; /* NUL-terminated; may hold NULs before value_len */
	size_t value_len;
	bool plain;    /* written without quotes, tag or block style */
	bool boolean;  /* SCALAR_BOOL */
	double number; /* SCALAR_INT, SCALAR_FLOAT */

	/* NODE_MAPPING */
	struct node_pair *pairs;
	size_t npairs;

	/* NODE_SEQUENCE */
	struct node **items;
	size_t nitems;

	/* the key this node is the value of (the first, if aliased), or NULL:
	 * where "required key is missing" points */
	const struct node *parent_key;

	/* nodes under this one, counting each alias's target again */
	size_t weight;
	struct node *next_in_doc; /* arena list */
};

struct node_doc {
	char *file; /* owned: the name used in diagnostics */
	struct node *root;
	struct node *all; /* every node, for freeing */
};

void node_doc_free(struct node_doc *doc);
struct node *node_doc_new_node(
    struct node_doc *doc, enum node_kind kind, unsigned line, unsigned column);

/* The value under key in a mapping, or NULL (also when node is no mapping). */
const struct node *node_get(const struct node *mapping, const char *key);
/* The key node for key, for diagnostics that point at the key. */
const struct node *node_get_key(const struct node *mapping, const char *key);
/* The scalar's text if node is a string scalar, else NULL. */
const char *node_str(const struct node *node);
bool node_is_string(const struct node *node);
/* "mapping", "sequence", "string", "integer", "number", "boolean", "null" */
const char *node_type_name(const struct node *node);

#endif
