/* getbot version: getbot's version and the libraries it runs with. */
#include "config.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <git2.h>
#include <libpsl.h>
#include <libssh2.h>
#include <sodium.h>
#include <stdio.h>
#include <yaml.h>

#include "cmd.h"

static int
cmd_version_exec(const struct cmd_args *args)
{
	int git_major, git_minor, git_rev;

	(void)args;
	git_libgit2_version(&git_major, &git_minor, &git_rev);
	printf("getbot %s\n", PACKAGE_VERSION);
	printf("libyaml %s, libcurl %s, cJSON %s, libssh2 %s, libsodium %s, "
	       "libgit2 %d.%d.%d, libpsl %s\n",
	    yaml_get_version_string(),
	    curl_version_info(CURLVERSION_NOW)->version, cJSON_Version(),
	    libssh2_version(0), sodium_version_string(), git_major, git_minor,
	    git_rev, psl_get_version());
	return EXIT_OK;
}

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.args_usage = "",
	.summary = "print getbot's version and its libraries' versions",
	.description = "Prints getbot's version, then the versions of the "
		       "libraries it is running with.",
	.options = NULL,
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_version_exec,
};
