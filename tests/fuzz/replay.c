/*
 * The plain driver for a fuzz target: feeds every file of the corpus
 * directories to LLVMFuzzerTestOneInput and prints TAP, so `make check`
 * replays the corpus under the sanitizers without libFuzzer. Directories
 * come from the arguments, else from $top_srcdir.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xmalloc.h"

/* The corpus directories under $top_srcdir; a driver for another target
 * defines its own. */
#ifndef REPLAY_CORPUS
#define REPLAY_CORPUS                                                         \
	"tests/fuzz/corpus/config", "tests/configs/invalid",                  \
	    "tests/configs/valid", "examples"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_count;

static int
replay_file(const char *path)
{
	struct strbuf content = STRBUF_INIT;
	char chunk[65536];
	size_t got;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		printf("not ok %d - cannot open %s\n", ++replay_count, path);
		return -1;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		strbuf_add(&content, chunk, got);
	fclose(f);
	LLVMFuzzerTestOneInput((const uint8_t *)content.buf, content.len);
	printf("ok %d - %s\n", ++replay_count, path);
	strbuf_release(&content);
	return 0;
}

static int
replay_dir(const char *dir)
{
	struct dirent **entries;
	int n, i, rc = 0;

	n = scandir(dir, &entries, NULL, alphasort);
	if (n < 0) {
		printf("not ok %d - cannot read %s\n", ++replay_count, dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (entries[i]->d_name[0] != '.') {
			char *path =
			    xasprintf("%s/%s", dir, entries[i]->d_name);

			rc |= replay_file(path);
			free(path);
		}
		free(entries[i]);
	}
	free(entries);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const defaults[] = { REPLAY_CORPUS };
	const char *top = getenv("top_srcdir");
	int rc = 0, i;
	size_t d;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			rc |= replay_dir(argv[i]);
	} else {
		for (d = 0; d < sizeof(defaults) / sizeof(defaults[0]); d++) {
			char *dir =
			    xasprintf("%s/%s", top ? top : ".", defaults[d]);

			rc |= replay_dir(dir);
			free(dir);
		}
	}
	printf("1..%d\n", replay_count);
	return rc == 0 ? 0 : 1;
}
