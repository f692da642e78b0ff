/* Fuzz target: the bots.yaml loader, schema validation and semantic checks
 * on arbitrary bytes. Built with libFuzzer under --enable-fuzzing, and
 * replayed over its corpus by replay.c in `make check`. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "bots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = DIAG_LIST_INIT;
	struct bots *bots = NULL;

	(void)bots_load_buffer(
	    "fuzz.yaml", (const char *)data, size, &bots, &diags);
	bots_free(bots);
	diag_list_clear(&diags);
	return 0;
}
