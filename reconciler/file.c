/* Reading whole files, bounded. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

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
	close(fd);
	return rc;
}
