/* Files for the state and the lock: the one directory level getbot
 * creates (atomic replacement is file_replace, in reconciler/file.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "state-internal.h"
#include "strbuf.h"
#include "xmalloc.h"

int
state_file_make_dir(const char *path, struct strbuf *err)
{
	char *dir = file_dir(path);
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
	} else if (file_sync_dir(dir, err) < 0) {
		/* The new directory's own entry must be durable too. */
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}
