/* Reading whole files, bounded: every read of a file getbot did not just
 * write itself goes through here. */
#ifndef GETBOT_FILE_H
#define GETBOT_FILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "strbuf.h"

/* file_read: the file does not exist (err is left alone). */
#define FILE_MISSING (-2)

/*
 * Append the regular file at path (at most max bytes) to content; st, if
 * not NULL, gets its status. Returns 0, FILE_MISSING, or -1 with err
 * naming the path and the reason.
 */
int file_read(const char *path, size_t max, struct strbuf *content,
    struct stat *st, struct strbuf *err);

#endif
