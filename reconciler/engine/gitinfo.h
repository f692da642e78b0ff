/* What git says of the config: the commit a run applies (libgit2). */
#ifndef GETBOT_GITINFO_H
#define GETBOT_GITINFO_H

/* The HEAD commit of the repository holding path, as 40 hex digits with
 * "-dirty" when path differs from it; NULL outside a repository. The
 * caller frees it. */
char *gitinfo_commit(const char *path);

#endif
