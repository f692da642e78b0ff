/*
 * What git says of the config (libgit2): the commit a run applies, whether
 * the work tree differs from it, and a private copy of the config as a
 * commit has it (--ref, getbot diff).
 */
#ifndef GETBOT_GITINFO_H
#define GETBOT_GITINFO_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* path is in no git repository (or not in a work tree) */
#define GITINFO_NOT_IN_REPO (-2)
/* At most this many bytes are copied out of one commit. */
#define GITINFO_COPY_MAX (256 * 1024 * 1024)

/* A commit, as provenance names it. All strings owned. */
struct gitinfo {
	char *sha;     /* 40 hex digits */
	char *author;  /* "Name <email>" */
	char *date;    /* the author's date, UTC: 2026-12-02T17:30:00Z */
	char *subject; /* the message's first line */
};

/* The HEAD commit of the repository holding path, as 40 hex digits with
 * "-dirty" when path differs from it; NULL outside a repository. The
 * caller frees it. */
char *gitinfo_commit(const char *path);

/*
 * The commit rev names (HEAD when NULL) in the repository holding path (a
 * file that need not exist, in a directory that does). Returns 0 with out
 * filled in (release it), GITINFO_NOT_IN_REPO, or -1 with err (a revision
 * that names no commit, or a repository without one yet).
 */
int gitinfo_lookup(
    const char *path, const char *rev, struct gitinfo *out, struct strbuf *err);
void gitinfo_release(struct gitinfo *info);
/* {"sha", "author", "date", "subject"}, sha with "-dirty" when dirty. */
cJSON *gitinfo_json(const struct gitinfo *info, bool dirty);

/*
 * Does the work tree differ from HEAD at any of paths (files or
 * directories on disk; the first one is the config, whose repository is
 * the one asked)? Modified, staged, deleted, untracked and ignored files
 * all count: a build context takes every file in its directory. A path
 * outside that repository's work tree is not looked at. Returns 0 with
 * *which NULL when nothing differs or the config is in no repository,
 * 0 with *which the first file that differs and how ("runtimes/rt-1/x.txt
 * (untracked)", relative to the repository; the caller frees it), or -1
 * with err.
 */
int gitinfo_dirty(
    const char *const *paths, size_t npaths, char **which, struct strbuf *err);

struct git_repository;
struct git_tree;

/* The config as one commit has it, copied into a private directory. */
struct gitinfo_tree {
	char *dir;         /* owned: mode 0700, removed on release */
	char *config_path; /* owned: dir/NAME, the config's copy */
	char *label;       /* owned: "REV:FILE", the name messages use */
	struct gitinfo commit;
	struct git_repository *repo; /* private */
	struct git_tree *config_dir; /* private: the config's directory */
	size_t copied;               /* bytes written so far */
};

/*
 * Copy config_path (the path the user gave, in a git work tree) as commit
 * rev has it into a new private directory. An unknown rev, a config the
 * commit does not have, or a config in no repository is -1 with err.
 * Release tree in every case.
 */
int gitinfo_checkout(const char *config_path, const char *rev,
    struct gitinfo_tree *tree, struct strbuf *err);
/* Copy the file or directory sub (relative to the config's directory:
 * "runtimes/rt-1") of the commit beside the config's copy; one the commit
 * does not have is left out (the run then says it is missing), and so is
 * one copied before. */
int gitinfo_checkout_path(
    struct gitinfo_tree *tree, const char *sub, struct strbuf *err);
/* Remove the copy and free; a zeroed tree is allowed. */
void gitinfo_tree_release(struct gitinfo_tree *tree);

#endif
