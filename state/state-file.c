/* Files for the state and the lock: bounded reads, atomic replacement,
 * directory sync, and the one directory level getbot creates. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state-internal.h"
#include "strbuf.h"
#include "xmalloc.h"

char *
state_file_tmp_name(const char *path)
{
	return xasprintf("%s.tmp.%ld", path, (long)getpid());
}

/* Write all of text to fd; -1 with errno set on failure. */
static int
state_file_write_all(int fd, const char *text, size_t len)
{
	ssize_t wrote;

	while (len > 0) {
		wrote = write(fd, text, len);
		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote < 0)
			return -1;
		text += wrote;
		len -= (size_t)wrote;
	}
	return 0;
}

int
state_file_replace(
    const char *path, const char *text, size_t len, struct strbuf *err)
{
	char *tmp = state_file_tmp_name(path);
	bool created = false;
	int fd, rc = -1;

	/* O_EXCL: never write through a link or over someone's file. */
	fd =
	    open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int saved = errno;

		strbuf_addf(
		    err, "cannot create '%s': %s", tmp, strerror(saved));
		if (saved == EEXIST)
			strbuf_addstr(err, " (left by an interrupted getbot? "
					   "remove it if none is running)");
		goto out;
	}
	created = true;
	if (state_file_write_all(fd, text, len) < 0) {
		strbuf_addf(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0) {
		strbuf_addf(err, "cannot sync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		strbuf_addf(err, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		strbuf_addf(err, "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	created = false;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

/* The directory holding path: "." for a bare name. The caller frees it. */
static char *
state_file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int
state_file_sync_dir(const char *path, struct strbuf *err)
{
	char *dir = state_file_dir(path);
	int fd, rc = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		strbuf_addf(err, "cannot open directory '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	/* EINVAL: this file system cannot sync a directory; nothing to do. */
	if (fsync(fd) < 0 && errno != EINVAL) {
		strbuf_addf(err, "cannot sync directory '%s': %s", dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int
state_file_make_dir(const char *path, struct strbuf *err)
{
	char *dir = state_file_dir(path);
	struct stat st;
	int rc = -1;

	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST) {
			strbuf_addf(err, "cannot create directory '%s': %s",
			    dir, strerror(errno));
			goto out;
		}
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
			strbuf_addf(err, "'%s' is not a directory", dir);
			goto out;
		}
	} else if (state_file_sync_dir(dir, err) < 0) {
		/* The new directory's own entry must be durable too. */
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}
