/* What the engine offers providers: their kinds by name, the rate budget,
 * progress lines and slow steps. */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "engine.h"
#include "provider.h"

const struct resource_kind *
provider_kind(const struct provider *provider, const char *kind_name)
{
	size_t i;

	for (i = 0; provider->kinds != NULL && provider->kinds[i] != NULL; i++)
		if (strcmp(provider->kinds[i]->name, kind_name) == 0)
			return provider->kinds[i];
	return NULL;
}

void
provider_throttle(struct provider_call *call)
{
	if (call->engine != NULL && call->budget != NULL)
		budget_take(&call->engine->budgets, call->budget);
}

void
provider_progress(
    struct provider_call *call, const char *address, const char *fmt, ...)
{
	struct strbuf line = STRBUF_INIT;
	va_list ap;

	if (call->engine == NULL || call->engine->progress == NULL)
		return;
	strbuf_addf(&line, "%s: ", address);
	va_start(ap, fmt);
	strbuf_vaddf(&line, fmt, ap);
	va_end(ap);
	call->engine->progress(call->engine->progress_ctx, line.buf);
	strbuf_release(&line);
}

void
provider_step_begin(
    struct provider_call *call, const char *address, const char *fmt, ...)
{
	struct strbuf what = STRBUF_INIT;
	va_list ap;

	if (call->engine == NULL || call->engine->step_begin == NULL)
		return;
	provider_step_end(call, true); /* one at a time */
	va_start(ap, fmt);
	strbuf_vaddf(&what, fmt, ap);
	va_end(ap);
	call->step = call->engine->step_begin(
	    call->engine->progress_ctx, address, what.buf);
	strbuf_release(&what);
}

void
provider_step_end(struct provider_call *call, bool ok)
{
	if (call->step == 0 || call->engine == NULL ||
	    call->engine->step_end == NULL)
		return;
	call->engine->step_end(call->engine->progress_ctx, call->step, ok);
	call->step = 0;
}

void
provider_block(struct provider_call *call, double seconds)
{
	if (call->engine != NULL && call->budget != NULL)
		budget_block(&call->engine->budgets, call->budget, seconds);
}
