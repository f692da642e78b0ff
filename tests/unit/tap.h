/* A small TAP producer for getbot's unit tests (automake's TAP driver reads
 * it). Each test is a function named for the behaviour it specifies. */
#ifndef GETBOT_TAP_H
#define GETBOT_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failures;

#define ok(cond, ...)                                                          \
	tap_ok_at(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

#define is_str(got, want, ...)                                                 \
	tap_is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                 \
	tap_is_int_at(                                                         \
	    (long)(got), (long)(want), __FILE__, __LINE__, __VA_ARGS__)

static void __attribute__((format(printf, 5, 6))) tap_ok_at(int pass,
    const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failures++;
		printf("#   failed at %s:%d: %s\n", file, line, expr);
	}
}

static void __attribute__((format(printf, 5, 6))) tap_is_str_at(const char *got,
    const char *want, const char *file, int line, const char *fmt, ...)
{
	int pass = (got == NULL && want == NULL) ||
		   (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_list ap;

	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failures++;
		printf("#   failed at %s:%d\n#   got:  '%s'\n#   want: '%s'\n",
		    file, line, got ? got : "(null)", want ? want : "(null)");
	}
}

static void __attribute__((format(printf, 5, 6))) tap_is_int_at(
    long got, long want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%sok %d - ", got == want ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (got != want) {
		tap_failures++;
		printf("#   failed at %s:%d\n#   got:  %ld\n#   want: %ld\n",
		    file, line, got, want);
	}
}

static int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures == 0 ? 0 : 1;
}

#endif
