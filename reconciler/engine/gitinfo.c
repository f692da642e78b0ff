/* The git commit a config comes from, whether the work tree differs from
 * it, and a private copy of the config at a commit. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <git2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "gitinfo.h"
#include "xmalloc.h"

char *
gitinfo_commit(const char *path)
{
	git_repository *repo = NULL;
	git_reference *head = NULL;
	const char *workdir;
	char *real = NULL, *result = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	unsigned int flags = 0;

	git_libgit2_init();
	real = realpath(path, NULL);
	if (real == NULL ||
	    git_repository_open_ext(&repo, real, 0, NULL) != 0 ||
	    git_repository_head(&head, repo) != 0 ||
	    git_reference_target(head) == NULL)
		goto out;
	git_oid_tostr(hex, sizeof(hex), git_reference_target(head));
	workdir = git_repository_workdir(repo);
	if (workdir != NULL && strncmp(real, workdir, strlen(workdir)) == 0 &&
	    git_status_file(&flags, repo, real + strlen(workdir)) == 0 &&
	    flags != GIT_STATUS_CURRENT)
		result = xasprintf("%s-dirty", hex);
	else
		result = xstrdup(hex);
out:
	git_reference_free(head);
	git_repository_free(repo);
	free(real);
	git_libgit2_shutdown();
	return result;
}

/* libgit2's last error, for a message. */
static const char *
gitinfo_error(void)
{
	const git_error *e = git_error_last();

	return e != NULL && e->message != NULL ? e->message : "unknown error";
}

/*
 * path on disk, absolute, with symbolic links resolved: the file itself
 * when it exists, else its directory's real path and its name. NULL when
 * not even the directory exists.
 */
static char *
gitinfo_real(const char *path)
{
	char *real = realpath(path, NULL), *dir, *name, *base;
	const char *slash;

	if (real != NULL)
		return real;
	dir = file_dir(path);
	slash = strrchr(path, '/');
	name = xstrdup(slash != NULL ? slash + 1 : path);
	base = realpath(dir, NULL);
	if (base != NULL)
		real = xasprintf(
		    "%s/%s", strcmp(base, "/") == 0 ? "" : base, name);
	free(base);
	free(dir);
	free(name);
	return real;
}

/* real relative to the work tree workdir (which ends with '/'), or NULL
 * when it is outside; "" for the work tree itself. Borrowed from real. */
static const char *
gitinfo_relative(const char *real, const char *workdir)
{
	size_t len = strlen(workdir);

	if (len > 0 && strncmp(real, workdir, len - 1) == 0 &&
	    (real[len - 1] == '\0' || real[len - 1] == '/'))
		return real[len - 1] == '\0' ? real + len - 1 : real + len;
	return NULL;
}

/* Open the repository holding real (an absolute path); its work tree in
 * *workdir (borrowed). GITINFO_NOT_IN_REPO when there is none. */
static int
gitinfo_open(const char *real, git_repository **repo, const char **workdir)
{
	char *dir = file_dir(real);
	int rc = GITINFO_NOT_IN_REPO;

	*repo = NULL;
	if (git_repository_open_ext(repo, dir, 0, NULL) != 0)
		goto out;
	*workdir = git_repository_workdir(*repo);
	if (*workdir == NULL || gitinfo_relative(real, *workdir) == NULL) {
		git_repository_free(*repo);
		*repo = NULL;
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Fill out from commit. */
static void
gitinfo_from_commit(git_commit *commit, struct gitinfo *out)
{
	const git_signature *author = git_commit_author(commit);
	char hex[GIT_OID_HEXSZ + 1], date[32];
	const char *summary = git_commit_summary(commit);
	time_t when = (time_t)author->when.time;
	struct tm tm;

	git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
	out->sha = xstrdup(hex);
	out->author = xasprintf("%s <%s>", author->name, author->email);
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	out->date = xstrdup(date);
	out->subject = xstrdup(summary != NULL ? summary : "");
}

/* The commit rev names in repo; err says why there is none. */
static int
gitinfo_resolve(git_repository *repo, const char *rev, git_commit **commit,
    struct strbuf *err)
{
	git_object *obj = NULL, *peeled = NULL;
	int rc = -1;

	*commit = NULL;
	if (git_revparse_single(&obj, repo, rev) != 0) {
		strbuf_addf(
		    err, "unknown revision '%s': %s", rev, gitinfo_error());
		goto out;
	}
	if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) != 0) {
		strbuf_addf(err, "revision '%s' names no commit: %s", rev,
		    gitinfo_error());
		goto out;
	}
	*commit = (git_commit *)peeled;
	peeled = NULL;
	rc = 0;
out:
	git_object_free(obj);
	git_object_free(peeled);
	return rc;
}

int
gitinfo_lookup(
    const char *path, const char *rev, struct gitinfo *out, struct strbuf *err)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	const char *workdir;
	char *real = gitinfo_real(path);
	int rc = GITINFO_NOT_IN_REPO;

	memset(out, 0, sizeof(*out));
	git_libgit2_init();
	if (real == NULL || gitinfo_open(real, &repo, &workdir) != 0)
		goto out;
	rc = gitinfo_resolve(repo, rev != NULL ? rev : "HEAD", &commit, err);
	if (rc == 0)
		gitinfo_from_commit(commit, out);
out:
	git_commit_free(commit);
	git_repository_free(repo);
	free(real);
	git_libgit2_shutdown();
	return rc;
}

void
gitinfo_release(struct gitinfo *info)
{
	free(info->sha);
	free(info->author);
	free(info->date);
	free(info->subject);
	memset(info, 0, sizeof(*info));
}

cJSON *
gitinfo_json(const struct gitinfo *info, bool dirty)
{
	cJSON *o = cJSON_CreateObject();
	char *sha = xasprintf("%s%s", info->sha, dirty ? "-dirty" : "");

	cJSON_AddStringToObject(o, "sha", sha);
	cJSON_AddStringToObject(o, "author", info->author);
	cJSON_AddStringToObject(o, "date", info->date);
	cJSON_AddStringToObject(o, "subject", info->subject);
	free(sha);
	return o;
}

/* How a status differs from HEAD, in words. */
static const char *
gitinfo_status_words(unsigned int status)
{
	if (status & GIT_STATUS_IGNORED)
		return "ignored, so never committed";
	if (status & GIT_STATUS_WT_NEW)
		return "untracked";
	if (status & (GIT_STATUS_WT_DELETED | GIT_STATUS_INDEX_DELETED))
		return "deleted";
	if (status & GIT_STATUS_INDEX_NEW)
		return "added, not committed";
	if (status & (GIT_STATUS_WT_RENAMED | GIT_STATUS_INDEX_RENAMED))
		return "renamed";
	if (status & GIT_STATUS_INDEX_MODIFIED &&
	    !(status & GIT_STATUS_WT_MODIFIED))
		return "staged, not committed";
	return "modified";
}

int
gitinfo_dirty(
    const char *const *paths, size_t npaths, char **which, struct strbuf *err)
{
	git_status_options opts;
	git_status_list *list = NULL;
	git_repository *repo = NULL;
	const char *workdir;
	char **reals = xcalloc(npaths + 1, sizeof(*reals));
	char **specs = xcalloc(npaths + 1, sizeof(*specs));
	size_t i, n = 0;
	int rc = 0;

	*which = NULL;
	git_libgit2_init();
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	for (i = 0; i < npaths; i++)
		reals[i] = gitinfo_real(paths[i]);
	if (npaths == 0 || reals[0] == NULL ||
	    gitinfo_open(reals[0], &repo, &workdir) != 0)
		goto out;
	for (i = 0; i < npaths; i++) {
		const char *rel = reals[i] != NULL
				      ? gitinfo_relative(reals[i], workdir)
				      : NULL;

		if (rel != NULL && rel[0] != '\0')
			specs[n++] = xstrdup(rel);
	}
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED |
		     GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_INCLUDE_IGNORED |
		     GIT_STATUS_OPT_RECURSE_IGNORED_DIRS;
	opts.pathspec.strings = specs;
	opts.pathspec.count = n;
	if (n == 0)
		goto out;
	if (git_status_list_new(&list, repo, &opts) != 0) {
		strbuf_addf(err, "cannot read the status of '%s': %s", workdir,
		    gitinfo_error());
		rc = -1;
		goto out;
	}
	for (i = 0; i < git_status_list_entrycount(list); i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->index_to_workdir != NULL
					      ? e->index_to_workdir
					      : e->head_to_index;

		if (e->status == GIT_STATUS_CURRENT || d == NULL)
			continue;
		*which = xasprintf("%s (%s)",
		    d->new_file.path != NULL ? d->new_file.path
					     : d->old_file.path,
		    gitinfo_status_words(e->status));
		break;
	}
out:
	git_status_list_free(list);
	git_repository_free(repo);
	for (i = 0; i < npaths; i++)
		free(reals[i]);
	for (i = 0; i < n; i++)
		free(specs[i]);
	free(reals);
	free(specs);
	git_libgit2_shutdown();
	return rc;
}

/* Is name a plain file name (no '/', not "." or "..")? */
static bool
gitinfo_name_ok(const char *name)
{
	return name[0] != '\0' && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Write the blob of entry to path (with its mode: a link, an executable
 * or a plain file). */
static int
gitinfo_write_entry(struct gitinfo_tree *tree, const git_tree_entry *entry,
    const char *path, struct strbuf *err)
{
	git_blob *blob = NULL;
	git_filemode_t mode = git_tree_entry_filemode(entry);
	git_object_size_t size;
	char *text = NULL;
	int fd = -1, rc = -1;

	if (git_blob_lookup(&blob, tree->repo, git_tree_entry_id(entry)) != 0) {
		strbuf_addf(
		    err, "%s: %s", git_tree_entry_name(entry), gitinfo_error());
		goto out;
	}
	size = git_blob_rawsize(blob);
	if (size > GITINFO_COPY_MAX - tree->copied) {
		strbuf_addf(err,
		    "%s: the files to copy out of %s are larger than %d "
		    "MiB",
		    git_tree_entry_name(entry), tree->label,
		    GITINFO_COPY_MAX / (1024 * 1024));
		goto out;
	}
	tree->copied += (size_t)size;
	if (mode == GIT_FILEMODE_LINK) {
		text = xstrndup(git_blob_rawcontent(blob), (size_t)size);
		if (symlink(text, path) != 0) {
			strbuf_addf(err, "cannot create '%s': %s", path,
			    strerror(errno));
			goto out;
		}
		rc = 0;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
	if (fd < 0 ||
	    file_write_all(fd, git_blob_rawcontent(blob), (size_t)size) != 0) {
		strbuf_addf(
		    err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0 && close(fd) != 0 && rc == 0) {
		strbuf_addf(
		    err, "cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	free(text);
	git_blob_free(blob);
	return rc;
}

/* Copy git tree src into the directory dir (which exists), recursively;
 * submodules are left out. */
static int
gitinfo_copy_tree(struct gitinfo_tree *tree, const git_tree *src,
    const char *dir, struct strbuf *err)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < git_tree_entrycount(src) && rc == 0; i++) {
		const git_tree_entry *entry = git_tree_entry_byindex(src, i);
		const char *name = git_tree_entry_name(entry);
		char *path;

		if (!gitinfo_name_ok(name)) {
			strbuf_addf(err, "%s: a tree has an entry named '%s'",
			    tree->label, name);
			return -1;
		}
		path = xasprintf("%s/%s", dir, name);
		switch (git_tree_entry_type(entry)) {
		case GIT_OBJECT_BLOB:
			rc = gitinfo_write_entry(tree, entry, path, err);
			break;
		case GIT_OBJECT_TREE: {
			git_tree *sub = NULL;

			if (mkdir(path, 0755) != 0) {
				strbuf_addf(err, "cannot create '%s': %s", path,
				    strerror(errno));
				rc = -1;
			} else if (git_tree_lookup(&sub, tree->repo,
				       git_tree_entry_id(entry)) != 0) {
				strbuf_addf(
				    err, "%s: %s", name, gitinfo_error());
				rc = -1;
			} else
				rc = gitinfo_copy_tree(tree, sub, path, err);
			git_tree_free(sub);
			break;
		}
		default: /* a submodule's commit: not part of this tree */
			break;
		}
		free(path);
	}
	return rc;
}

int
gitinfo_checkout(const char *config_path, const char *rev,
    struct gitinfo_tree *tree, struct strbuf *err)
{
	git_commit *commit = NULL;
	git_tree *root = NULL;
	git_tree_entry *entry = NULL;
	const char *workdir, *rel, *slash = strrchr(config_path, '/');
	const char *name = slash != NULL ? slash + 1 : config_path;
	char *real = gitinfo_real(config_path), *dir_rel = NULL;
	const char *tmp = getenv("TMPDIR");
	int rc = -1;

	memset(tree, 0, sizeof(*tree));
	git_libgit2_init();
	tree->label = xasprintf("%s:%s", rev, config_path);
	if (real == NULL || gitinfo_open(real, &tree->repo, &workdir) != 0) {
		strbuf_addf(err,
		    "--ref %s: '%s' is not in the work tree of a git "
		    "repository",
		    rev, config_path);
		goto out;
	}
	if (gitinfo_resolve(tree->repo, rev, &commit, err) != 0)
		goto out;
	gitinfo_from_commit(commit, &tree->commit);
	rel = gitinfo_relative(real, workdir);
	dir_rel = file_dir(rel);
	if (git_commit_tree(&root, commit) != 0) {
		strbuf_addf(err, "%s: %s", rev, gitinfo_error());
		goto out;
	}
	if (strchr(rel, '/') == NULL)
		git_tree_dup(&tree->config_dir, root);
	else if (git_tree_entry_bypath(&entry, root, dir_rel) != 0 ||
		 git_tree_entry_type(entry) != GIT_OBJECT_TREE ||
		 git_tree_lookup(&tree->config_dir, tree->repo,
		     git_tree_entry_id(entry)) != 0) {
		strbuf_addf(err, "commit %.12s (%s) has no directory '%s'",
		    tree->commit.sha, rev, dir_rel);
		goto out;
	}
	git_tree_entry_free(entry);
	entry = NULL;
	if (git_tree_entry_bypath(&entry, tree->config_dir, name) != 0 ||
	    git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
		strbuf_addf(err, "commit %.12s (%s) has no file '%s'",
		    tree->commit.sha, rev, rel);
		goto out;
	}
	tree->dir = xasprintf(
	    "%s/getbot-ref.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(tree->dir) == NULL) { /* mode 0700 */
		strbuf_addf(err, "cannot create a directory for --ref: %s: %s",
		    tree->dir, strerror(errno));
		free(tree->dir);
		tree->dir = NULL;
		goto out;
	}
	tree->config_path = xasprintf("%s/%s", tree->dir, name);
	if (gitinfo_write_entry(tree, entry, tree->config_path, err) != 0)
		goto out;
	rc = 0;
out:
	git_tree_entry_free(entry);
	git_tree_free(root);
	git_commit_free(commit);
	free(real);
	free(dir_rel);
	return rc;
}

int
gitinfo_checkout_path(
    struct gitinfo_tree *tree, const char *sub, struct strbuf *err)
{
	git_tree_entry *entry = NULL;
	git_tree *src = NULL;
	struct strbuf path = STRBUF_INIT;
	bool is_tree;
	const char *p;
	int rc = 0;

	if (git_tree_entry_bypath(&entry, tree->config_dir, sub) != 0)
		goto out; /* not in the commit */
	is_tree = git_tree_entry_type(entry) == GIT_OBJECT_TREE;
	if (!is_tree && git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
		goto out;
	/* the directories down to it (and it, for a directory) */
	strbuf_addstr(&path, tree->dir);
	for (p = sub; *p != '\0';) {
		size_t len = strcspn(p, "/");
		char *name = xstrndup(p, len);
		bool last = p[len] == '\0';

		if (!gitinfo_name_ok(name)) {
			strbuf_addf(err, "'%s' is not a relative path", sub);
			free(name);
			rc = -1;
			goto out;
		}
		strbuf_addf(&path, "/%s", name);
		free(name);
		if ((!last || is_tree) && mkdir(path.buf, 0755) != 0 &&
		    errno != EEXIST) {
			strbuf_addf(err, "cannot create '%s': %s", path.buf,
			    strerror(errno));
			rc = -1;
			goto out;
		}
		p += len + (p[len] == '/');
	}
	if (!is_tree) {
		if (access(path.buf, F_OK) != 0)
			rc = gitinfo_write_entry(tree, entry, path.buf, err);
		goto out;
	}
	if (git_tree_lookup(&src, tree->repo, git_tree_entry_id(entry)) != 0) {
		strbuf_addf(err, "%s: %s", sub, gitinfo_error());
		rc = -1;
		goto out;
	}
	rc = gitinfo_copy_tree(tree, src, path.buf, err);
out:
	git_tree_free(src);
	git_tree_entry_free(entry);
	strbuf_release(&path);
	return rc;
}

/* Remove path and, when it is a directory, what it holds (links are
 * removed, never followed). */
static void
gitinfo_remove(const char *path)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		(void)unlink(path);
		return;
	}
	dir = opendir(path);
	while (dir != NULL && (d = readdir(dir)) != NULL) {
		char *child;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		child = xasprintf("%s/%s", path, d->d_name);
		gitinfo_remove(child);
		free(child);
	}
	if (dir != NULL)
		closedir(dir);
	(void)rmdir(path);
}

void
gitinfo_tree_release(struct gitinfo_tree *tree)
{
	bool started = tree->label != NULL; /* gitinfo_checkout ran */

	if (tree->dir != NULL)
		gitinfo_remove(tree->dir);
	free(tree->dir);
	free(tree->config_path);
	free(tree->label);
	gitinfo_release(&tree->commit);
	git_tree_free(tree->config_dir);
	git_repository_free(tree->repo);
	if (started)
		git_libgit2_shutdown(); /* gitinfo_checkout's init */
	memset(tree, 0, sizeof(*tree));
}
