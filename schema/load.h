/* Loading a bots.yaml file into a node tree, refusing what YAML allows but
 * getbot does not: duplicate keys, alias bombs, non-UTF-8, tabs used to
 * indent, several documents, files over LOAD_MAX_SIZE. */
#ifndef GETBOT_LOAD_H
#define GETBOT_LOAD_H

#include <stddef.h>

#include "diag.h"
#include "node.h"

#define LOAD_MAX_SIZE   (1024 * 1024) /* bytes */
#define LOAD_MAX_DEPTH  64            /* nested collections */
#define LOAD_MAX_WEIGHT 100000        /* nodes once aliases are expanded */

/*
 * Parse buf (len bytes) as the file named file. On success returns 0 and
 * *docp (owned by the caller, node_doc_free); otherwise returns -1 with
 * every problem found added to diags and *docp NULL.
 */
int load_buffer(const char *file, const char *buf, size_t len,
    struct node_doc **docp, struct diag_list *diags);
/* Read path (at most LOAD_MAX_SIZE bytes) and load_buffer() it. */
int load_file(
    const char *path, struct node_doc **docp, struct diag_list *diags);

#endif
