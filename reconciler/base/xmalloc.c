/* Allocation wrappers: out of memory is fatal, so callers never test NULL. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void __attribute__((noreturn)) xmalloc_die(size_t size)
{
	fprintf(stderr, "getbot: out of memory (%zu bytes)\n", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *ptr = malloc(size ? size : 1);

	if (ptr == NULL)
		xmalloc_die(size);
	return ptr;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *ptr = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (ptr == NULL)
		xmalloc_die(nmemb * size);
	return ptr;
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *grown;

	if (size != 0 && nmemb > SIZE_MAX / size)
		xmalloc_die(SIZE_MAX);
	grown = realloc(ptr, nmemb * size != 0 ? nmemb * size : 1);
	if (grown == NULL)
		xmalloc_die(nmemb * size);
	return grown;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *copy;
	size_t len = strnlen(s, n);

	copy = xmalloc(len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	char *out;
	int len;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0)
		xmalloc_die(0);
	out = xmalloc((size_t)len + 1);
	vsnprintf(out, (size_t)len + 1, fmt, ap);
	return out;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;

	va_start(ap, fmt);
	out = xvasprintf(fmt, ap);
	va_end(ap);
	return out;
}
