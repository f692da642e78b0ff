/* Diagnostics: problems found in a config, each with its location. */
#ifndef GETBOT_DIAG_H
#define GETBOT_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
};

struct diag {
	enum diag_severity severity;
	char *file;    /* owned */
	unsigned line; /* 1-based; 0 when the problem has no place */
	unsigned column;
	char *path;    /* owned; "" when the problem has no config path */
	char *message; /* owned */
};

struct diag_list {
	struct diag *items;
	size_t count;
	size_t alloc;
};

#define DIAG_LIST_INIT                                                         \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void diag_add(struct diag_list *list, enum diag_severity severity,
    const char *file, unsigned line, unsigned column, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void diag_addv(struct diag_list *list, enum diag_severity severity,
    const char *file, unsigned line, unsigned column, const char *path,
    const char *fmt, va_list ap) __attribute__((format(printf, 7, 0)));
/* Move every diagnostic of from to the end of to; from is left empty. */
void diag_list_move(struct diag_list *to, struct diag_list *from);
size_t diag_list_errors(const struct diag_list *list);
/* Sort by file, line and column (stable) and drop exact repeats. */
void diag_list_sort(struct diag_list *list);
void diag_list_clear(struct diag_list *list);
/* FILE:LINE:COL: PATH: message (severity "warning: " when not an error). */
void diag_print(FILE *out, const struct diag *d);
struct strbuf;
/* The same line, newline included, appended to sb. */
void diag_format(struct strbuf *sb, const struct diag *d);
/* One JSON object: {"type":"diagnostic",...}, without a newline. */
void diag_print_json(FILE *out, const struct diag *d);
/* Every diagnostic of list: as JSON lines on stdout when json, else as
 * diag_print lines on stderr. */
void diag_list_print(const struct diag_list *list, bool json);

/* Append a config path element: .key (key alone at the start), ["odd
 * key"] when it is not a plain name, or [index]. */
void diag_path_key(struct strbuf *path, const char *key);
void diag_path_index(struct strbuf *path, size_t index);

#endif
