/*
 * getbot status: per bot its deployment status, URL, which provider keys
 * are set and the last applied commit, from observation plus the state.
 * Generic over providers: a bot is every resource (desired or observed)
 * whose org and team are its own.
 *
 *   deploying / deleting  an intent in the journal was never finished
 *   failed                the last action on one of its resources failed
 *                         and is still to do (the error is shown)
 *   deleting              no longer in bots.yaml, objects remain
 *   pending               something it needs does not exist yet
 *   deployed              everything exists (changes_pending counts the
 *                         updates a plan would make)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "identity.h"
#include "prepare.h"
#include "xmalloc.h"

static const struct cmd_option cmd_status_options[] = {
	{ "file", 'f', "FILE", "the config (default: bots.yaml)" },
	{ "state", 0, "PATH",
	    "the state file (default: .getbot/state.json beside the config)" },
	{ "json", 0, NULL, "print one JSON object per bot and line" },
	{ NULL, 0, NULL, NULL },
};

struct status_bot {
	const char *org, *team; /* borrowed */
	const struct bots_target *target;
	const char *status;
	const char *error; /* borrowed from the journal, or NULL */
	char *url;
	cJSON *keys; /* {"anthropic": true, ...} */
	size_t changes;
	/* the commit its most recently applied resource came from, borrowed
	 * from the state; NULL when unknown */
	const cJSON *commit;
	long commit_serial;
};

static bool
status_is_bot(const char *org, const char *team, const char *o, const char *t)
{
	return o != NULL && t != NULL && strcmp(org, o) == 0 &&
	       strcmp(team, t) == 0;
}

/* The newest journal entry for address, or NULL. */
static const cJSON *
status_last_entry(const cJSON *journal, const char *address)
{
	const cJSON *entry, *last = NULL;

	cJSON_ArrayForEach (entry, journal) {
		const char *a = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(entry, "address"));

		if (a != NULL && strcmp(a, address) == 0)
			last = entry;
	}
	return last;
}

/* "ANTHROPIC_API_KEY" -> "anthropic", or NULL when not a key's name. */
static char *
status_key_provider(const char *env)
{
	size_t len = strlen(env), i;
	char *out;

	if (len <= 8 || strcmp(env + len - 8, "_API_KEY") != 0)
		return NULL;
	out = xstrndup(env, len - 8);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = out[i] == '_' ? '-'
				       : (char)(out[i] >= 'A' && out[i] <= 'Z'
						    ? out[i] - 'A' + 'a'
						    : out[i]);
	return out;
}

/* Keep address's commit (from the state) when it was applied after the
 * one b has. */
static void
status_note_commit(
    const struct state *state, const char *address, struct status_bot *b)
{
	const cJSON *snapshot = state_resource(state, address);
	const cJSON *commit =
	    cJSON_GetObjectItemCaseSensitive(snapshot, "commit");
	const cJSON *serial =
	    cJSON_GetObjectItemCaseSensitive(snapshot, "serial");

	if (!cJSON_IsObject(commit) || !cJSON_IsNumber(serial))
		return;
	if (b->commit == NULL || (long)serial->valuedouble > b->commit_serial) {
		b->commit = commit;
		b->commit_serial = (long)serial->valuedouble;
	}
}

/* Fill b from desired, observed, plan and journal. */
static void
status_of(struct prepared *p, const cJSON *journal, struct status_bot *b,
    bool in_config)
{
	const struct engine *e = &p->engine;
	bool missing = false, deleting = !in_config;
	size_t i;

	b->status = NULL;
	b->keys = cJSON_CreateObject();
	for (i = 0; i < e->desired.count; i++) {
		const struct resource *r = e->desired.items[i];
		size_t k;

		if (!status_is_bot(b->org, b->team, r->org, r->team))
			continue;
		b->target = r->target;
		if (r->url != NULL && b->url == NULL)
			b->url = xstrdup(r->url);
		if (observed_set_find(&e->observed, r->address) == NULL)
			missing = true;
		for (k = 0; k < r->nsecrets; k++) {
			char *provider =
			    status_key_provider(r->secrets[k].name);

			if (provider != NULL &&
			    cJSON_GetObjectItem(b->keys, provider) == NULL)
				cJSON_AddBoolToObject(b->keys, provider, false);
			free(provider);
		}
	}
	for (i = 0; i < e->observed.count; i++) {
		const struct observed *o = e->observed.items[i];
		const cJSON *fpr, *url;

		if (!o->owned ||
		    !status_is_bot(b->org, b->team, o->org, o->team))
			continue;
		if (b->target == NULL)
			b->target = o->target;
		url = cJSON_GetObjectItemCaseSensitive(o->handle, "url");
		if (cJSON_IsString(url) && b->url == NULL)
			b->url = xstrdup(url->valuestring);
		cJSON_ArrayForEach (fpr, o->fingerprints) {
			char *provider = status_key_provider(fpr->string);

			if (provider != NULL) {
				cJSON_DeleteItemFromObject(b->keys, provider);
				cJSON_AddBoolToObject(b->keys, provider, true);
			}
			free(provider);
		}
	}

	/* the journal and the plan, over every address of the bot */
	for (i = 0; i < e->desired.count + e->observed.count; i++) {
		const char *address, *org, *team, *st, *action;
		const struct plan_action *planned;
		const cJSON *entry;

		if (i < e->desired.count) {
			address = e->desired.items[i]->address;
			org = e->desired.items[i]->org;
			team = e->desired.items[i]->team;
		} else {
			const struct observed *o =
			    e->observed.items[i - e->desired.count];

			if (!o->owned ||
			    resource_set_find(&e->desired, o->address) != NULL)
				continue;
			address = o->address;
			org = o->org;
			team = o->team;
		}
		if (!status_is_bot(b->org, b->team, org, team))
			continue;
		status_note_commit(p->state, address, b);
		planned = plan_find(&p->plan, address);
		if (planned != NULL && planned->kind != ACTION_CREATE &&
		    planned->kind != ACTION_DELETE)
			b->changes++;
		entry = status_last_entry(journal, address);
		st = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(entry, "status"));
		action = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(entry, "action"));
		if (st != NULL && strcmp(st, "intended") == 0)
			b->status =
			    action != NULL && strcmp(action, "delete") == 0
				? "deleting"
				: "deploying";
		else if (st != NULL && strcmp(st, "failed") == 0 &&
			 planned != NULL && b->status == NULL) {
			b->status = "failed";
			b->error = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(entry, "error"));
		}
	}
	if (b->status != NULL)
		return;
	if (deleting)
		b->status = "deleting";
	else if (missing)
		b->status = "pending";
	else
		b->status = "deployed";
}

static void
status_print_json(const struct status_bot *b, const char *commit)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *key;
	char *text;

	cJSON_AddStringToObject(o, "type", "bot_status");
	cJSON_AddStringToObject(o, "org", b->org);
	cJSON_AddStringToObject(o, "team", b->team);
	if (b->target != NULL)
		cJSON_AddStringToObject(o, "target", b->target->name);
	cJSON_AddStringToObject(o, "status", b->status);
	if (b->error != NULL)
		cJSON_AddStringToObject(o, "error", b->error);
	if (b->url != NULL)
		cJSON_AddStringToObject(o, "url", b->url);
	else
		cJSON_AddNullToObject(o, "url");
	cJSON_ArrayForEach (key, b->keys) {
		char *name = xasprintf("has_%s_key", key->string);

		cJSON_AddBoolToObject(o, name, cJSON_IsTrue(key));
		free(name);
	}
	cJSON_AddNumberToObject(o, "changes_pending", (double)b->changes);
	if (commit != NULL)
		cJSON_AddStringToObject(o, "last_apply_commit", commit);
	else
		cJSON_AddNullToObject(o, "last_apply_commit");
	if (b->commit != NULL)
		cJSON_AddItemToObject(
		    o, "applied_from", cJSON_Duplicate(b->commit, 1));
	else
		cJSON_AddNullToObject(o, "applied_from");
	text = cJSON_PrintUnformatted(o);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static void
status_print_human(const struct status_bot *b)
{
	struct strbuf keys = STRBUF_INIT, name = STRBUF_INIT;
	const cJSON *key;

	cJSON_ArrayForEach (key, b->keys)
		strbuf_addf(&keys, "%s%s %s", keys.len ? ", " : "", key->string,
		    cJSON_IsTrue(key) ? "set" : "missing");
	strbuf_addf(&name, "%s/%s", b->org, b->team);
	printf("%-24s %-10s %-10s %s\n", name.buf,
	    b->target != NULL ? b->target->name : "-", b->status,
	    b->url != NULL ? b->url : "-");
	if (keys.len > 0)
		printf("    keys: %s\n", keys.buf);
	if (b->changes > 0)
		printf("    %zu change%s pending (see 'getbot plan')\n",
		    b->changes, b->changes == 1 ? "" : "s");
	if (b->error != NULL)
		printf("    error: %s\n", b->error);
	strbuf_reset(&keys);
	if (prepare_commit_line(b->commit, true, &keys))
		printf("    applied from: %s\n", keys.buf);
	strbuf_release(&keys);
	strbuf_release(&name);
}

static int
cmd_status_exec(const struct cmd_args *args)
{
	struct prepared p;
	bool json = cmd_args_has(args, "json");
	struct status_bot *bots = NULL;
	const char *only = args->npositional > 0 ? args->positional[0] : NULL;
	const char *scope[1] = { only };
	const char *commit;
	size_t nbots = 0, o, t, i;
	int rc;

	rc = prepare_options(args, &p);
	if (rc != EXIT_OK)
		return rc;
	if (only != NULL) {
		p.options.orgs = scope;
		p.options.norgs = 1;
	}
	rc = prepare_plan(args, args->providers, &p, json);
	if (rc == EXIT_POLICY || (rc == EXIT_ERROR && p.plan.nerrors > 0))
		rc = EXIT_OK; /* status reports; plan says what is refused */
	if (rc != EXIT_OK)
		goto out;

	/* the bots in bots.yaml, then those only observed */
	for (o = 0; o < p.engine.bots->norgs; o++)
		for (t = 0; t < p.engine.bots->orgs[o].nteams; t++) {
			const struct bots_org *org = &p.engine.bots->orgs[o];

			if (!plan_in_scope(
				&p.options, org->name, org->teams[t].name))
				continue;
			bots = xreallocarray(bots, nbots + 1, sizeof(*bots));
			memset(&bots[nbots], 0, sizeof(*bots));
			bots[nbots].org = org->name;
			bots[nbots].team = org->teams[t].name;
			bots[nbots].target = org->target;
			status_of(
			    &p, state_journal(p.state), &bots[nbots], true);
			nbots++;
		}
	for (i = 0; i < p.engine.observed.count; i++) {
		const struct observed *ob = p.engine.observed.items[i];
		size_t j;
		bool seen = false;

		if (!ob->owned || ob->org == NULL || ob->team == NULL ||
		    !plan_in_scope(&p.options, ob->org, ob->team))
			continue;
		for (j = 0; j < nbots && !seen; j++)
			seen = status_is_bot(
			    bots[j].org, bots[j].team, ob->org, ob->team);
		if (seen)
			continue;
		bots = xreallocarray(bots, nbots + 1, sizeof(*bots));
		memset(&bots[nbots], 0, sizeof(*bots));
		bots[nbots].org = ob->org;
		bots[nbots].team = ob->team;
		status_of(&p, state_journal(p.state), &bots[nbots], false);
		nbots++;
	}

	commit = state_commit(p.state);
	if (!json && nbots > 0)
		printf(
		    "%-24s %-10s %-10s %s\n", "BOT", "TARGET", "STATUS", "URL");
	for (i = 0; i < nbots; i++) {
		if (json)
			status_print_json(&bots[i], commit);
		else
			status_print_human(&bots[i]);
	}
	if (!json)
		printf("%sLast apply: %s\n", nbots > 0 ? "\n" : "",
		    commit != NULL ? commit : "unknown commit");
	if (only != NULL && nbots == 0) {
		fprintf(stderr, "getbot status: no bot matches '%s'\n", only);
		rc = EXIT_ERROR;
	}
out:
	for (i = 0; i < nbots; i++) {
		free(bots[i].url);
		cJSON_Delete(bots[i].keys);
	}
	free(bots);
	/* the positional list is borrowed, not prepare's to free */
	p.options.orgs = NULL;
	prepare_release(&p);
	return rc;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.args_usage = "[ORG[/TEAM]]",
	.summary = "show each bot's deployment status, URL and keys",
	.description =
	    "Observes what exists and reads the state, then prints per bot its "
	    "deployment status (pending, deploying, deployed, failed with the "
	    "error, deleting), its URL, which provider keys are set (never "
	    "their values), the commit its resources were last applied from "
	    "(sha, subject, author, date) and the commit of the last apply. "
	    "ORG or ORG/TEAM "
	    "limits it to one org or bot. Bots no longer in bots.yaml whose "
	    "objects remain are listed as deleting.",
	.options = cmd_status_options,
	.min_args = 0,
	.max_args = 1,
	.needs_providers = true,
	.exec = cmd_status_exec,
};
