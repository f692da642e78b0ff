/* Diagnostics list and its two output forms. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "strbuf.h"
#include "xmalloc.h"

void
diag_addv(struct diag_list *list, enum diag_severity severity, const char *file,
    unsigned line, unsigned column, const char *path, const char *fmt,
    va_list ap)
{
	struct diag *d;

	ALLOC_GROW(list->items, list->count + 1, list->alloc);
	d = &list->items[list->count++];
	d->severity = severity;
	d->file = xstrdup(file != NULL ? file : "");
	d->line = line;
	d->column = column;
	d->path = xstrdup(path != NULL ? path : "");
	d->message = xvasprintf(fmt, ap);
}

void
diag_add(struct diag_list *list, enum diag_severity severity, const char *file,
    unsigned line, unsigned column, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_addv(list, severity, file, line, column, path, fmt, ap);
	va_end(ap);
}

void
diag_list_move(struct diag_list *to, struct diag_list *from)
{
	size_t i;

	for (i = 0; i < from->count; i++) {
		ALLOC_GROW(to->items, to->count + 1, to->alloc);
		to->items[to->count++] = from->items[i];
	}
	free(from->items);
	from->items = NULL;
	from->count = from->alloc = 0;
}

size_t
diag_list_errors(const struct diag_list *list)
{
	size_t i, n = 0;

	for (i = 0; i < list->count; i++)
		if (list->items[i].severity == DIAG_ERROR)
			n++;
	return n;
}

static int
diag_compare(const struct diag *a, const struct diag *b)
{
	int c = strcmp(a->file, b->file);

	if (c != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->column != b->column)
		return a->column < b->column ? -1 : 1;
	return 0;
}

static int
diag_same(const struct diag *a, const struct diag *b)
{
	return diag_compare(a, b) == 0 && a->severity == b->severity &&
	       strcmp(a->path, b->path) == 0 &&
	       strcmp(a->message, b->message) == 0;
}

static void
diag_free_one(struct diag *d)
{
	free(d->file);
	free(d->path);
	free(d->message);
}

void
diag_list_sort(struct diag_list *list)
{
	size_t i, j, kept;

	/* Insertion sort: stable, and lists are short. */
	for (i = 1; i < list->count; i++) {
		struct diag moving = list->items[i];

		for (j = i;
		     j > 0 && diag_compare(&list->items[j - 1], &moving) > 0;
		     j--)
			list->items[j] = list->items[j - 1];
		list->items[j] = moving;
	}
	for (i = 0, kept = 0; i < list->count; i++) {
		size_t k;
		int repeat = 0;

		for (k = 0; k < kept && !repeat; k++)
			repeat = diag_same(&list->items[k], &list->items[i]);
		if (repeat)
			diag_free_one(&list->items[i]);
		else
			list->items[kept++] = list->items[i];
	}
	list->count = kept;
}

void
diag_list_clear(struct diag_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		diag_free_one(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = list->alloc = 0;
}

void
diag_format(struct strbuf *sb, const struct diag *d)
{
	if (d->line > 0)
		strbuf_addf(sb, "%s:%u:%u: ", d->file, d->line, d->column);
	else if (d->file[0] != '\0')
		strbuf_addf(sb, "%s: ", d->file);
	if (d->severity == DIAG_WARNING)
		strbuf_addstr(sb, "warning: ");
	if (d->path[0] != '\0')
		strbuf_addf(sb, "%s: ", d->path);
	strbuf_addf(sb, "%s\n", d->message);
}

void
diag_print(FILE *out, const struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;

	diag_format(&sb, d);
	fputs(sb.buf, out);
	strbuf_release(&sb);
}

void
diag_print_json(FILE *out, const struct diag *d)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "{\"type\":\"diagnostic\",\"severity\":");
	strbuf_addstr(
	    &sb, d->severity == DIAG_WARNING ? "\"warning\"" : "\"error\"");
	strbuf_addstr(&sb, ",\"file\":");
	strbuf_add_json_string(&sb, d->file, strlen(d->file));
	strbuf_addf(
	    &sb, ",\"line\":%u,\"column\":%u,\"path\":", d->line, d->column);
	strbuf_add_json_string(&sb, d->path, strlen(d->path));
	strbuf_addstr(&sb, ",\"message\":");
	strbuf_add_json_string(&sb, d->message, strlen(d->message));
	strbuf_addch(&sb, '}');
	fputs(sb.buf, out);
	strbuf_release(&sb);
}

void
diag_path_key(struct strbuf *path, const char *key)
{
	size_t i;
	bool plain = key[0] != '\0';

	for (i = 0; key[i] != '\0' && plain; i++)
		plain = (key[i] >= 'a' && key[i] <= 'z') ||
			(key[i] >= 'A' && key[i] <= 'Z') ||
			(key[i] >= '0' && key[i] <= '9') || key[i] == '_' ||
			key[i] == '-';
	if (plain) {
		if (path->len > 0)
			strbuf_addch(path, '.');
		strbuf_addstr(path, key);
	} else {
		strbuf_addch(path, '[');
		strbuf_add_json_string(path, key, strlen(key));
		strbuf_addch(path, ']');
	}
}

void
diag_path_index(struct strbuf *path, size_t index)
{
	strbuf_addf(path, "[%zu]", index);
}

void
diag_list_print(const struct diag_list *list, bool json)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		if (json) {
			diag_print_json(stdout, &list->items[i]);
			putchar('\n');
		} else
			diag_print(stderr, &list->items[i]);
	}
}
