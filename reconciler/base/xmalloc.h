/* Allocation that cannot fail: out of memory ends the program. */
#ifndef GETBOT_XMALLOC_H
#define GETBOT_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Grow *array so that it holds at least need elements of size elem. */
#define ALLOC_GROW(array, need, alloc)                                         \
	do {                                                                   \
		if ((need) > (alloc)) {                                        \
			size_t alloc_new_ = (alloc) < 8 ? 8 : (alloc)*2;       \
			while (alloc_new_ < (need))                            \
				alloc_new_ *= 2;                               \
			(array) = xreallocarray(                               \
			    (array), alloc_new_, sizeof(*(array)));            \
			(alloc) = alloc_new_;                                  \
		}                                                              \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
