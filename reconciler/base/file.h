/* Reading whole files, bounded: every read of a file getbot did not just
 * write itself goes through here. And replacing files atomically: the
 * state, the lock, auth.json and what the auth provider installs. */
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

/* Write all of text to fd (EINTR retried); -1 with errno on failure. */
int file_write_all(int fd, const char *text, size_t len);
/* The temporary name file_replace writes first: PATH.tmp.PID. Free it. */
char *file_tmp_name(const char *path);
/* Replace path with len bytes of text: the temporary file is created
 * exclusively (never through a link), given mode, written, fsynced and
 * renamed over path. On failure path is as it was and the temporary file
 * is gone. The directory is not synced (file_sync_dir). */
int file_replace(const char *path, const char *text, size_t len, mode_t mode,
    struct strbuf *err);
/* fsync the directory holding path, so a rename in it is durable. */
int file_sync_dir(const char *path, struct strbuf *err);
/* The directory holding path: "." for a bare name. Free it. */
char *file_dir(const char *path);

#endif
