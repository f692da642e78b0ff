/* The git commit a config comes from. */
#include "config.h"

#include <git2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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
