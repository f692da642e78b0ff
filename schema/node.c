/* The YAML node tree. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "xmalloc.h"

struct node *
node_doc_new_node(
    struct node_doc *doc, enum node_kind kind, unsigned line, unsigned column)
{
	struct node *node = xcalloc(1, sizeof(*node));

	node->kind = kind;
	node->line = line;
	node->column = column;
	node->weight = 1;
	node->next_in_doc = doc->all;
	doc->all = node;
	return node;
}

void
node_doc_free(struct node_doc *doc)
{
	struct node *node, *next;

	if (doc == NULL)
		return;
	for (node = doc->all; node != NULL; node = next) {
		next = node->next_in_doc;
		free(node->value);
		free(node->pairs);
		free(node->items);
		free(node);
	}
	free(doc->file);
	free(doc);
}

const struct node *
node_get_key(const struct node *mapping, const char *key)
{
	size_t i;

	if (mapping == NULL || mapping->kind != NODE_MAPPING)
		return NULL;
	for (i = 0; i < mapping->npairs; i++)
		if (strcmp(mapping->pairs[i].key->value, key) == 0)
			return mapping->pairs[i].key;
	return NULL;
}

const struct node *
node_get(const struct node *mapping, const char *key)
{
	size_t i;

	if (mapping == NULL || mapping->kind != NODE_MAPPING)
		return NULL;
	for (i = 0; i < mapping->npairs; i++)
		if (strcmp(mapping->pairs[i].key->value, key) == 0)
			return mapping->pairs[i].value;
	return NULL;
}

bool
node_is_string(const struct node *node)
{
	return node != NULL && node->kind == NODE_SCALAR &&
	       node->scalar_type == SCALAR_STRING;
}

const char *
node_str(const struct node *node)
{
	return node_is_string(node) ? node->value : NULL;
}

const char *
node_type_name(const struct node *node)
{
	if (node->kind == NODE_MAPPING)
		return "mapping";
	if (node->kind == NODE_SEQUENCE)
		return "sequence";
	switch (node->scalar_type) {
	case SCALAR_NULL:
		return "null";
	case SCALAR_BOOL:
		return "boolean";
	case SCALAR_INT:
		return "integer";
	case SCALAR_FLOAT:
		return "number";
	case SCALAR_STRING:
		break;
	}
	return "string";
}
