/* A runtime's build context as a reproducible tar stream (libarchive). */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "file.h"
#include "xmalloc.h"

/* The stream being written, in memory, and whether it outgrew the bound. */
struct docker_tar {
	struct strbuf out;
	bool too_big;
};

/* libarchive's writer: append to the stream, up to DOCKER_CONTEXT_MAX. */
static la_ssize_t
docker_tar_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct docker_tar *tar = data;

	(void)a;
	if (tar->out.len + len > DOCKER_CONTEXT_MAX) {
		tar->too_big = true;
		return -1;
	}
	strbuf_add(&tar->out, buf, len);
	return (la_ssize_t)len;
}

static int
docker_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular file at path, read whole (what is left of the bound at
 * most) into content. */
static int
docker_tar_read(const struct docker_tar *tar, const char *path,
    struct strbuf *content, struct strbuf *err)
{
	size_t left = DOCKER_CONTEXT_MAX - tar->out.len;
	struct strbuf why = STRBUF_INIT;
	int rc;

	rc = file_read(path, left, content, NULL, &why);
	if (rc == FILE_MISSING)
		strbuf_addf(err, "%s: %s", path, strerror(ENOENT));
	else if (rc != 0 && content->len > left)
		strbuf_addf(
		    err, "%s: the build context is larger than 256 MiB", path);
	else if (rc != 0)
		strbuf_add(err, why.buf, why.len);
	strbuf_release(&why);
	return rc == 0 ? 0 : -1;
}

/* The names in directory path, as rel/NAME (or NAME at the top), sorted:
 * *names and each name are the caller's to free. */
static int
docker_tar_list(const char *path, const char *rel, char ***names, size_t *n,
    struct strbuf *err)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t alloc = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		ALLOC_GROW(*names, *n + 1, alloc);
		(*names)[(*n)++] = rel[0] ? xasprintf("%s/%s", rel, de->d_name)
					  : xstrdup(de->d_name);
	}
	closedir(d);
	qsort(*names, *n, sizeof(**names), docker_name_cmp);
	return 0;
}

/* Add dir/rel (a file, link or directory, recursively) to the archive,
 * entries in name order with owner 0 and time 0: the same context makes
 * the same bytes, so its digest says whether it changed. */
static int
docker_tar_add(struct archive *a, const struct docker_tar *tar, const char *dir,
    const char *rel, struct strbuf *err)
{
	char *path = rel[0] ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	struct archive_entry *e = NULL;
	struct strbuf content = STRBUF_INIT;
	char **names = NULL;
	size_t n = 0, i;
	struct stat st;
	int rc = -1;

	if (lstat(path, &st) != 0) {
		strbuf_addf(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode) && docker_tar_read(tar, path, &content, err))
		goto out;
	if (rel[0] != '\0') {
		e = archive_entry_new();
		archive_entry_set_pathname(e, rel);
		archive_entry_set_mode(e, st.st_mode);
		archive_entry_set_mtime(e, 0, 0);
		if (S_ISREG(st.st_mode))
			archive_entry_set_size(e, (la_int64_t)content.len);
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t len =
			    readlink(path, target, sizeof(target) - 1);

			if (len < 0) {
				strbuf_addf(
				    err, "%s: %s", path, strerror(errno));
				goto out;
			}
			target[len] = '\0';
			archive_entry_set_symlink(e, target);
		} else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			strbuf_addf(err,
			    "%s: not a file, link or directory, which a build "
			    "context cannot hold",
			    path);
			goto out;
		}
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			strbuf_addf(
			    err, "%s: %s", path, archive_error_string(a));
			goto out;
		}
	}
	if (S_ISREG(st.st_mode) && content.len > 0 &&
	    archive_write_data(a, content.buf, content.len) !=
		(la_ssize_t)content.len) {
		strbuf_addf(err, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if (docker_tar_list(path, rel, &names, &n, err) != 0)
			goto out;
		for (i = 0; i < n; i++)
			if (docker_tar_add(a, tar, dir, names[i], err) != 0)
				goto out;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	strbuf_release(&content);
	archive_entry_free(e);
	free(path);
	return rc;
}

int
docker_context_tar(const char *runtime_dir, const char *runtime,
    struct strbuf *tar_out, char digest[DOCKER_DIGEST_HEX], struct strbuf *err)
{
	char *dir = xasprintf("%s/%s", runtime_dir, runtime);
	char *dockerfile = xasprintf("%s/Dockerfile", dir);
	struct docker_tar tar = { STRBUF_INIT, false };
	struct archive *a = archive_write_new();
	unsigned char hash[32];
	int rc = -1;
	size_t i;

	if (access(dockerfile, R_OK) != 0) {
		strbuf_addf(err,
		    "runtime '%s' has no build context: %s: %s (a server "
		    "runtime is a directory with a Dockerfile, in runtimes/ "
		    "beside bots.yaml or $GETBOT_RUNTIME_DIR)",
		    runtime, dockerfile, strerror(errno));
		goto out;
	}
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open2(a, &tar, NULL, docker_tar_write, NULL, NULL) !=
	    ARCHIVE_OK) {
		strbuf_addf(err, "%s: %s", dir, archive_error_string(a));
		goto out;
	}
	if (docker_tar_add(a, &tar, dir, "", err) != 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		strbuf_addf(err, "%s: %s", dir,
		    tar.too_big ? "the build context is larger than 256 MiB"
				: archive_error_string(a));
		goto out;
	}
	crypto_generichash(hash, sizeof(hash), (unsigned char *)tar.out.buf,
	    tar.out.len, NULL, 0);
	for (i = 0; i < sizeof(hash); i++)
		snprintf(digest + 2 * i, 3, "%02x", hash[i]);
	if (tar_out != NULL) {
		strbuf_release(tar_out);
		*tar_out = tar.out;
		strbuf_init(&tar.out, 0);
	}
	rc = 0;
out:
	if (rc != 0 && tar.too_big && !strstr(err->buf, "256 MiB"))
		strbuf_addstr(err, " (the build context is over 256 MiB)");
	archive_write_free(a);
	strbuf_release(&tar.out);
	free(dockerfile);
	free(dir);
	return rc;
}

int
docker_context_digest(cJSON *digests, const char *runtime_dir,
    const char *runtime, char digest[DOCKER_DIGEST_HEX], struct strbuf *err)
{
	const char *known = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(digests, runtime));

	if (known != NULL) {
		snprintf(digest, DOCKER_DIGEST_HEX, "%s", known);
		return 0;
	}
	if (docker_context_tar(runtime_dir, runtime, NULL, digest, err) != 0)
		return -1;
	cJSON_AddStringToObject(digests, runtime, digest);
	return 0;
}
