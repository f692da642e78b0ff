/* Reading whole files, bounded; replacing them atomically. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "xmalloc.h"

int
file_read(const char *path, size_t max, struct strbuf *content, struct stat *st,
    struct strbuf *err)
{
	struct stat own;

	char chunk[8192];
	ssize_t got;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return FILE_MISSING;
		strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (st == NULL)
		st = &own;
	if (fstat(fd, st) < 0) {
		strbuf_addf(err, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		strbuf_addf(err, "'%s' is not a regular file", path);
		goto out;
	}
	for (;;) {
		got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			strbuf_addf(
			    err, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		strbuf_add(content, chunk, (size_t)got);
		if (content->len > max) {
			strbuf_addf(
			    err, "'%s' is larger than %zu bytes", path, max);
			goto out;
		}
	}
	rc = 0;
out:
	/* what passed through may be a key (auth.json) */
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return rc;
}

char *
file_tmp_name(const char *path)
{
	return xasprintf("%s.tmp.%ld", path, (long)getpid());
}

int
file_write_all(int fd, const char *text, size_t len)
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
file_replace(const char *path, const char *text, size_t len, mode_t mode,
    struct strbuf *err)
{
	char *tmp = file_tmp_name(path);
	bool created = false;
	int fd, rc = -1;

	/* O_EXCL: never write through a link or over someone's file. */
	fd =
	    open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int saved = errno;

		/* the file the reader knows, then the temporary one */
		strbuf_addf(
		    err, "cannot write '%s': %s", path, strerror(saved));
		if (saved == EEXIST)
			strbuf_addf(err,
			    " ('%s' was left by an interrupted getbot? "
			    "remove it if none is running)",
			    tmp);
		goto out;
	}
	created = true;
	/* the mode asked for, whatever the umask */
	if (fchmod(fd, mode) < 0 || file_write_all(fd, text, len) < 0) {
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

char *
file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int
file_sync_dir(const char *path, struct strbuf *err)
{
	char *dir = file_dir(path);
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
