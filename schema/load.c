/* The bots.yaml loader: libyaml events into a node tree, with limits. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "file.h"
#include "load.h"
#include "strbuf.h"
#include "xmalloc.h"

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

struct load_frame {
	struct node *node;
	struct node *pending_key; /* mapping: key waiting for its value */
	bool skip_value;          /* mapping: the pending key was refused */
	size_t alloc;             /* of node->items or node->pairs */
	char *anchor;             /* owned: registered when the node ends */
};

struct load_anchor {
	char *name;
	struct node *node;
};

struct load_ctx {
	struct node_doc *doc;
	struct diag_list *diags;
	const char *buf;
	size_t len;
	struct load_frame *stack;
	size_t depth, stack_alloc;
	struct load_anchor *anchors;
	size_t nanchors, anchors_alloc;
	bool failed;
	bool fatal; /* stop reading events */
};

/* The config path of the place being read (key: a key in the innermost
 * mapping, or NULL), from the stack of open collections. */
static void
load_path(const struct load_ctx *ctx, const char *key, struct strbuf *path)
{
	size_t i;

	for (i = 0; i < ctx->depth; i++) {
		const struct load_frame *frame = &ctx->stack[i];

		if (frame->node->kind == NODE_SEQUENCE)
			diag_path_index(path, frame->node->nitems);
		else if (frame->pending_key != NULL)
			diag_path_key(path, frame->pending_key->value);
	}
	if (key != NULL)
		diag_path_key(path, key);
}

static void __attribute__((format(printf, 5, 0)))
load_errorv(struct load_ctx *ctx, unsigned line, unsigned column,
    const char *key, const char *fmt, va_list ap)
{
	struct strbuf path = STRBUF_INIT;

	load_path(ctx, key, &path);
	diag_addv(ctx->diags, DIAG_ERROR, ctx->doc->file, line, column,
	    path.buf, fmt, ap);
	strbuf_release(&path);
	ctx->failed = true;
}

static void __attribute__((format(printf, 4, 5))) load_error(
    struct load_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	load_errorv(ctx, line, column, NULL, fmt, ap);
	va_end(ap);
}

/* An error about a mapping key: the path ends with that key. */
static void __attribute__((format(printf, 3, 4))) load_error_key(
    struct load_ctx *ctx, const struct node *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	load_errorv(ctx, key->line, key->column,
	    key->kind == NODE_SCALAR && key->scalar_type != SCALAR_NULL &&
		    strlen(key->value) == key->value_len
		? key->value
		: NULL,
	    fmt, ap);
	va_end(ap);
}

static void
load_error_at_mark(struct load_ctx *ctx, yaml_mark_t mark, const char *msg)
{
	load_error(
	    ctx, (unsigned)mark.line + 1, (unsigned)mark.column + 1, "%s", msg);
}

/* Length of the UTF-8 sequence starting at s (0 when invalid). */
static size_t
load_utf8_length(const unsigned char *s, size_t avail)
{
	size_t need, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (avail < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* Decode the code point of a valid UTF-8 sequence of n bytes. */
static unsigned long
load_utf8_decode(const unsigned char *s, size_t n)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned long cp = s[0] & lead_mask[n];
	size_t i;

	for (i = 1; i < n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/*
 * The whole file must be UTF-8 of characters YAML allows, with no line
 * breaks other than LF and CR LF (libyaml also breaks lines at NEL, LS
 * and PS, which would make its line numbers disagree with every editor's).
 * Reports the first fault.
 */
static int
load_check_encoding(struct load_ctx *ctx)
{
	const unsigned char *s = (const unsigned char *)ctx->buf;
	unsigned line = 1, column = 1;
	size_t i = 0;

	if ((ctx->len >= 2 && ((s[0] == 0xff && s[1] == 0xfe) ||
				  (s[0] == 0xfe && s[1] == 0xff))) ||
	    (ctx->len >= 4 && s[0] == 0 && s[1] == 0 && s[2] == 0xfe &&
		s[3] == 0xff)) {
		load_error(ctx, 1, 1,
		    "file is UTF-16 or UTF-32; getbot reads UTF-8 only");
		return -1;
	}
	while (i < ctx->len) {
		size_t n = load_utf8_length(s + i, ctx->len - i);
		unsigned long cp;

		if (n == 0) {
			load_error(ctx, line, column,
			    "invalid UTF-8 (byte 0x%02x); save the file as "
			    "UTF-8",
			    s[i]);
			return -1;
		}
		cp = load_utf8_decode(s + i, n);
		if (cp == 0) {
			load_error(ctx, line, column,
			    "NUL byte in file; is it a text file?");
			return -1;
		}
		if (cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
			load_error(ctx, line, column,
			    "character U+%04lX is a line break to YAML; use a "
			    "plain newline",
			    cp);
			return -1;
		}
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
		    (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe ||
		    cp == 0xffff) {
			load_error(ctx, line, column,
			    "control character U+%04lX is not allowed in YAML",
			    cp);
			return -1;
		}
		if (cp == '\n') {
			line++;
			column = 1;
		} else if (!(cp == 0xfeff && i == 0))
			column++;
		i += n;
	}
	return 0;
}

/* The character at 1-based line and column, as a byte, or 0. */
static char
load_char_at(const struct load_ctx *ctx, unsigned line, unsigned column)
{
	const unsigned char *s = (const unsigned char *)ctx->buf;
	unsigned at_line = 1, at_column = 1;
	size_t i = 0;

	while (i < ctx->len) {
		size_t n = load_utf8_length(s + i, ctx->len - i);

		if (at_line == line && at_column == column)
			return (char)s[i];
		if (s[i] == '\n') {
			if (at_line == line)
				return 0;
			at_line++;
			at_column = 1;
		} else
			at_column++;
		i += n ? n : 1;
	}
	return 0;
}

/* The first tab in the indentation of line, as a column, or 0. */
static unsigned
load_indent_tab(const struct load_ctx *ctx, unsigned line)
{
	unsigned at_line = 1, column = 1;
	size_t i;

	for (i = 0; i < ctx->len && at_line < line; i++)
		if (ctx->buf[i] == '\n')
			at_line++;
	for (; i < ctx->len; i++, column++) {
		if (ctx->buf[i] == '\t')
			return column;
		if (ctx->buf[i] != ' ')
			break;
	}
	return 0;
}

static void
load_syntax_error(struct load_ctx *ctx, const yaml_parser_t *parser)
{
	struct strbuf msg = STRBUF_INIT;
	unsigned line = (unsigned)parser->problem_mark.line + 1;
	unsigned column = (unsigned)parser->problem_mark.column + 1;
	unsigned tab;

	if (load_char_at(ctx, line, column) == '\t')
		tab = column;
	else
		tab = load_indent_tab(ctx, line);
	if (tab != 0) {
		load_error(ctx, line, tab,
		    "tab character in indentation; YAML indents with spaces");
		return;
	}
	if (parser->error == YAML_MEMORY_ERROR) {
		load_error(ctx, 0, 0, "out of memory while parsing YAML");
		return;
	}
	strbuf_addf(&msg, "YAML syntax: %s",
	    parser->problem ? parser->problem : "unknown error");
	if (parser->context != NULL)
		strbuf_addf(&msg, " (%s at %zu:%zu)", parser->context,
		    parser->context_mark.line + 1,
		    parser->context_mark.column + 1);
	if (parser->error == YAML_READER_ERROR)
		load_error(ctx, 0, 0, "%s", msg.buf);
	else
		load_error(ctx, line, column, "%s", msg.buf);
	strbuf_release(&msg);
}

static bool
load_all_digits(const char *s, const char *digits)
{
	if (*s == '\0')
		return false;
	return strspn(s, digits) == strlen(s);
}

/* YAML 1.2 core schema float: [-+]? ( . [0-9]+ | [0-9]+ ( . [0-9]* )? )
 * ( [eE] [-+]? [0-9]+ )? */
static bool
load_is_float(const char *s)
{
	size_t before = 0, after = 0;

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, before++;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, after++;
	}
	if (before == 0 && after == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!load_all_digits(s, "0123456789"))
			return false;
		return true;
	}
	return *s == '\0';
}

/* Give a plain scalar its YAML 1.2 core schema type. */
static void
load_resolve_plain(struct node *node)
{
	const char *v = node->value;
	const char *sign = (*v == '-' || *v == '+') ? v + 1 : v;

	node->scalar_type = SCALAR_STRING;
	if (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0) {
		node->scalar_type = SCALAR_NULL;
	} else if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
		   strcmp(v, "TRUE") == 0) {
		node->scalar_type = SCALAR_BOOL;
		node->boolean = true;
	} else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
		   strcmp(v, "FALSE") == 0) {
		node->scalar_type = SCALAR_BOOL;
		node->boolean = false;
	} else if (load_all_digits(sign, "0123456789")) {
		node->scalar_type = SCALAR_INT;
		node->number = strtod(v, NULL);
	} else if (strncmp(v, "0o", 2) == 0 &&
		   load_all_digits(v + 2, "01234567")) {
		node->scalar_type = SCALAR_INT;
		node->number = (double)strtoull(v + 2, NULL, 8);
	} else if (strncmp(v, "0x", 2) == 0 &&
		   load_all_digits(v + 2, "0123456789abcdefABCDEF")) {
		node->scalar_type = SCALAR_INT;
		node->number = (double)strtoull(v + 2, NULL, 16);
	} else if (load_is_float(v)) {
		node->scalar_type = SCALAR_FLOAT;
		node->number = strtod(v, NULL);
	} else if (strcmp(sign, ".inf") == 0 || strcmp(sign, ".Inf") == 0 ||
		   strcmp(sign, ".INF") == 0) {
		node->scalar_type = SCALAR_FLOAT;
		node->number = *v == '-' ? -INFINITY : INFINITY;
	} else if (strcmp(v, ".nan") == 0 || strcmp(v, ".NaN") == 0 ||
		   strcmp(v, ".NAN") == 0) {
		node->scalar_type = SCALAR_FLOAT;
		node->number = NAN;
	}
}

/* Only the core tags that agree with the node are accepted. */
static int
load_check_tag(struct load_ctx *ctx, yaml_mark_t mark, const char *tag,
    const char *expected)
{
	if (tag == NULL || strcmp(tag, "!") == 0)
		return 0;
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) == 0 &&
	    strcmp(tag + strlen(YAML_TAG_PREFIX), expected) == 0)
		return 0;
	load_error(ctx, (unsigned)mark.line + 1, (unsigned)mark.column + 1,
	    "YAML tag '%s' is not supported here", tag);
	return -1;
}

static void
load_frame_push(struct load_ctx *ctx, struct node *node, const char *anchor)
{
	struct load_frame *frame;

	ALLOC_GROW(ctx->stack, ctx->depth + 1, ctx->stack_alloc);
	frame = &ctx->stack[ctx->depth++];
	memset(frame, 0, sizeof(*frame));
	frame->node = node;
	frame->anchor = anchor ? xstrdup(anchor) : NULL;
}

static void
load_anchor_add(struct load_ctx *ctx, const char *name, struct node *node)
{
	ALLOC_GROW(ctx->anchors, ctx->nanchors + 1, ctx->anchors_alloc);
	ctx->anchors[ctx->nanchors].name = xstrdup(name);
	ctx->anchors[ctx->nanchors].node = node;
	ctx->nanchors++;
}

static struct node *
load_anchor_find(struct load_ctx *ctx, const char *name)
{
	size_t i;

	for (i = ctx->nanchors; i > 0; i--)
		if (strcmp(ctx->anchors[i - 1].name, name) == 0)
			return ctx->anchors[i - 1].node;
	return NULL;
}

/* Attach a finished node to the collection being built, or make it root. */
static void
load_attach(
    struct load_ctx *ctx, struct node *node, unsigned line, unsigned column)
{
	struct load_frame *frame;
	struct node *parent;
	size_t i;

	if (ctx->depth == 0) {
		ctx->doc->root = node;
		return;
	}
	frame = &ctx->stack[ctx->depth - 1];
	parent = frame->node;
	if (parent->kind == NODE_MAPPING && frame->skip_value &&
	    frame->pending_key == NULL) {
		frame->skip_value = false; /* the value of a refused key */
		return;
	}
	if (parent->kind == NODE_MAPPING && frame->pending_key == NULL) {
		/* node is a key */
		if (node->kind != NODE_SCALAR ||
		    node->scalar_type == SCALAR_NULL) {
			load_error_key(ctx, node,
			    "a mapping key must be a non-empty string");
			frame->skip_value = true;
			return;
		}
		if (strlen(node->value) != node->value_len) {
			load_error_key(ctx, node,
			    "a mapping key must not contain a NUL character");
			frame->skip_value = true;
			return;
		}
		if (strcmp(node->value, "<<") == 0 && node->plain) {
			load_error_key(ctx, node,
			    "merge keys ('<<') are not supported; write the "
			    "keys out");
			frame->skip_value = true;
			return;
		}
		for (i = 0; i < parent->npairs; i++) {
			const struct node *seen = parent->pairs[i].key;

			if (strcmp(seen->value, node->value) == 0) {
				load_error_key(ctx, node,
				    "duplicate key '%s' (first at %u:%u)",
				    node->value, seen->line, seen->column);
				frame->skip_value = true;
				return;
			}
		}
		frame->pending_key = node;
		return;
	}
	if (parent->weight + node->weight > LOAD_MAX_WEIGHT) {
		load_error(ctx, line, column,
		    "aliases expand to more than %d nodes; refusing what looks "
		    "like an alias bomb",
		    LOAD_MAX_WEIGHT);
		ctx->fatal = true;
		return;
	}
	parent->weight += node->weight;
	if (parent->kind == NODE_SEQUENCE) {
		ALLOC_GROW(parent->items, parent->nitems + 1, frame->alloc);
		parent->items[parent->nitems++] = node;
		return;
	}
	if (node->parent_key == NULL)
		node->parent_key = frame->pending_key;
	ALLOC_GROW(parent->pairs, parent->npairs + 1, frame->alloc);
	parent->pairs[parent->npairs].key = frame->pending_key;
	parent->pairs[parent->npairs].value = node;
	parent->npairs++;
	frame->pending_key = NULL;
}

static void
load_scalar(struct load_ctx *ctx, const yaml_event_t *event)
{
	struct node *node;
	const char *tag = (const char *)event->data.scalar.tag;

	node = node_doc_new_node(ctx->doc, NODE_SCALAR,
	    (unsigned)event->start_mark.line + 1,
	    (unsigned)event->start_mark.column + 1);
	node->value = xmalloc(event->data.scalar.length + 1);
	memcpy(
	    node->value, event->data.scalar.value, event->data.scalar.length);
	node->value[event->data.scalar.length] = '\0';
	node->value_len = event->data.scalar.length;
	node->scalar_type = SCALAR_STRING;
	node->plain =
	    tag == NULL && event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (node->plain)
		load_resolve_plain(node);
	else
		(void)load_check_tag(ctx, event->start_mark, tag, "str");
	if (event->data.scalar.anchor != NULL)
		load_anchor_add(
		    ctx, (const char *)event->data.scalar.anchor, node);
	load_attach(ctx, node, node->line, node->column);
}

static void
load_collection_start(
    struct load_ctx *ctx, const yaml_event_t *event, enum node_kind kind)
{
	struct node *node;
	const char *tag, *anchor;

	if (kind == NODE_MAPPING) {
		tag = (const char *)event->data.mapping_start.tag;
		anchor = (const char *)event->data.mapping_start.anchor;
	} else {
		tag = (const char *)event->data.sequence_start.tag;
		anchor = (const char *)event->data.sequence_start.anchor;
	}
	(void)load_check_tag(
	    ctx, event->start_mark, tag, kind == NODE_MAPPING ? "map" : "seq");
	if (ctx->depth >= LOAD_MAX_DEPTH) {
		load_error_at_mark(
		    ctx, event->start_mark, "nesting deeper than 64 levels");
		ctx->fatal = true;
		return;
	}
	node = node_doc_new_node(ctx->doc, kind,
	    (unsigned)event->start_mark.line + 1,
	    (unsigned)event->start_mark.column + 1);
	load_frame_push(ctx, node, anchor);
}

static void
load_collection_end(struct load_ctx *ctx)
{
	struct load_frame frame = ctx->stack[--ctx->depth];

	if (frame.anchor != NULL) {
		load_anchor_add(ctx, frame.anchor, frame.node);
		free(frame.anchor);
	}
	load_attach(ctx, frame.node, frame.node->line, frame.node->column);
}

static void
load_alias(struct load_ctx *ctx, const yaml_event_t *event)
{
	const char *name = (const char *)event->data.alias.anchor;
	struct node *target = load_anchor_find(ctx, name);

	if (target == NULL) {
		load_error(ctx, (unsigned)event->start_mark.line + 1,
		    (unsigned)event->start_mark.column + 1,
		    "alias '*%s' names no anchor defined before it", name);
		/* keep the mapping's key/value pairing in step */
		target = node_doc_new_node(ctx->doc, NODE_SCALAR,
		    (unsigned)event->start_mark.line + 1,
		    (unsigned)event->start_mark.column + 1);
		target->value = xstrdup("");
		target->scalar_type = SCALAR_NULL;
	}
	load_attach(ctx, target, (unsigned)event->start_mark.line + 1,
	    (unsigned)event->start_mark.column + 1);
}

/* Run the libyaml event loop over ctx->buf. */
static void
load_events(struct load_ctx *ctx)
{
	yaml_parser_t parser;
	yaml_event_t event;
	const unsigned char *text = (const unsigned char *)ctx->buf;
	size_t len = ctx->len;
	int documents = 0;
	bool done = false;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3; /* a UTF-8 byte order mark: allowed, and skipped */
		len -= 3;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, text, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (!done && !ctx->fatal) {
		if (!yaml_parser_parse(&parser, &event)) {
			load_syntax_error(ctx, &parser);
			break;
		}
		switch (event.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				load_error_at_mark(ctx, event.start_mark,
				    "only one YAML document is allowed per "
				    "file");
				done = true;
			}
			break;
		case YAML_SCALAR_EVENT:
			load_scalar(ctx, &event);
			break;
		case YAML_SEQUENCE_START_EVENT:
			load_collection_start(ctx, &event, NODE_SEQUENCE);
			break;
		case YAML_MAPPING_START_EVENT:
			load_collection_start(ctx, &event, NODE_MAPPING);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			load_collection_end(ctx);
			break;
		case YAML_ALIAS_EVENT:
			load_alias(ctx, &event);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
}

int
load_buffer(const char *file, const char *buf, size_t len,
    struct node_doc **docp, struct diag_list *diags)
{
	struct load_ctx ctx;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.doc = xcalloc(1, sizeof(*ctx.doc));
	ctx.doc->file = xstrdup(file);
	ctx.diags = diags;
	ctx.buf = buf;
	ctx.len = len;
	*docp = NULL;

	if (len > LOAD_MAX_SIZE)
		load_error(&ctx, 0, 0,
		    "file is larger than %d bytes; is it really a bots.yaml?",
		    LOAD_MAX_SIZE);
	else if (load_check_encoding(&ctx) == 0)
		load_events(&ctx);
	if (!ctx.failed && ctx.doc->root == NULL)
		load_error(&ctx, 1, 1, "file is empty");

	for (i = 0; i < ctx.depth; i++)
		free(ctx.stack[i].anchor);
	free(ctx.stack);
	for (i = 0; i < ctx.nanchors; i++)
		free(ctx.anchors[i].name);
	free(ctx.anchors);
	if (ctx.failed) {
		node_doc_free(ctx.doc);
		return -1;
	}
	*docp = ctx.doc;
	return 0;
}

int
load_file(const char *path, struct node_doc **docp, struct diag_list *diags)
{
	struct strbuf content = STRBUF_INIT, err = STRBUF_INIT;
	int rc;

	*docp = NULL;
	/* past the limit file_read stops, and load_buffer says why */
	rc = file_read(path, LOAD_MAX_SIZE, &content, NULL, &err);
	if (rc == FILE_MISSING)
		diag_add(diags, DIAG_ERROR, path, 0, 0, "", "cannot open: %s",
		    strerror(ENOENT));
	else if (rc != 0 && content.len <= LOAD_MAX_SIZE)
		diag_add(diags, DIAG_ERROR, path, 0, 0, "", "%s", err.buf);
	else
		rc = load_buffer(path, content.buf, content.len, docp, diags);
	strbuf_release(&content);
	strbuf_release(&err);
	return rc;
}
