/* Identity derivation: the one place names are made. */
#include "config.h"

#include <ctype.h>
#include <libpsl.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "xmalloc.h"

static const psl_ctx_t *
identity_psl(void)
{
	static const psl_ctx_t *psl;

	if (psl == NULL) {
		/* The newest of the compiled-in list and the system's file. */
		psl = psl_latest(NULL);
		if (psl == NULL)
			psl = psl_builtin();
	}
	return psl;
}

bool
identity_is_dns_label(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > IDENTITY_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

static bool
identity_is_atext(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+/=?^_`{|}~-", c);
}

bool
identity_is_hostname(const char *s)
{
	size_t len = strlen(s), i, label = 0, labels = 1;
	const char *last_label = s;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			labels++;
			last_label = s + i + 1;
			continue;
		}
		if (!(isalnum((unsigned char)c) || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || s[len - 1] == '-' || labels < 2)
		return false;
	/* a top-level domain is never all digits */
	return strspn(last_label, "0123456789") != strlen(last_label);
}

bool
identity_is_email(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t local_len, i;

	if (at == NULL || strchr(s, '@') != at)
		return false;
	local_len = (size_t)(at - s);
	if (local_len == 0 || local_len > 64 || s[0] == '.' ||
	    s[local_len - 1] == '.')
		return false;
	for (i = 0; i < local_len; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
		if (s[i] != '.' && !identity_is_atext(s[i]))
			return false;
	}
	return identity_is_hostname(at + 1);
}

int
identity_org_from_email(const char *email, char **org, struct strbuf *err)
{
	const char *at = strrchr(email, '@');
	const char *registrable;
	char *domain = NULL;
	size_t i;
	int rc = -1;

	*org = NULL;
	if (!identity_is_email(email)) {
		strbuf_addf(err, "'%s' is not a valid email address", email);
		goto out;
	}
	domain = xstrdup(at + 1);
	for (i = 0; domain[i] != '\0'; i++)
		domain[i] = (char)tolower((unsigned char)domain[i]);
	registrable = psl_registrable_domain(identity_psl(), domain);
	if (registrable == NULL) {
		strbuf_addf(err,
		    "'%s' is a public suffix, not a domain an org can own",
		    domain);
		goto out;
	}
	*org = xstrndup(registrable, strcspn(registrable, "."));
	if (!identity_is_dns_label(*org)) {
		strbuf_addf(err, "'%s' derives '%s', which is not a DNS label",
		    email, *org);
		free(*org);
		*org = NULL;
		goto out;
	}
	rc = 0;
out:
	free(domain);
	return rc;
}

char *
identity_org_domain(const char *org, const char *domain)
{
	return xasprintf(
	    "%s.%s", org, domain != NULL ? domain : IDENTITY_DEFAULT_DOMAIN);
}

char *
identity_team_path(const char *team)
{
	return xasprintf("/%s", team);
}

char *
identity_bot_url(const char *org, const char *domain, const char *team)
{
	return xasprintf("https://%s.%s/%s", org,
	    domain != NULL ? domain : IDENTITY_DEFAULT_DOMAIN, team);
}

char *
identity_container_name(const char *org)
{
	return xstrdup(org);
}

char *
identity_worker_name(const char *org, const char *team)
{
	return xasprintf("%s-%s", org, team);
}

int
identity_check_worker_name(const char *name, struct strbuf *err)
{
	size_t len = strlen(name);

	if (len > IDENTITY_NAME_MAX) {
		strbuf_addf(err,
		    "derived worker name '%s' is %zu characters; Cloudflare "
		    "allows %d",
		    name, len, IDENTITY_NAME_MAX);
		return -1;
	}
	if (!(name[0] >= 'a' && name[0] <= 'z')) {
		strbuf_addf(err,
		    "derived worker name '%s' must start with a letter "
		    "(Cloudflare)",
		    name);
		return -1;
	}
	return 0;
}

char *
identity_route_id(const char *org, const char *team)
{
	return xasprintf("getbot-%s-%s", org, team);
}

char *
identity_callback_route_id(const char *org)
{
	return xasprintf("getbot-%s_callback", org);
}

char *
identity_compose_project(const char *team)
{
	return xstrdup(team);
}

char *
identity_bot_container(const char *team)
{
	return xasprintf("%s-openclaw-1", team);
}

char *
identity_bot_volume(const char *team, const char *volume)
{
	return xasprintf("%s_%s", team, volume);
}

char *
identity_key_env(const char *provider)
{
	char *env = xasprintf("%s_API_KEY", provider);
	size_t i;

	for (i = 0; env[i] != '\0'; i++)
		env[i] =
		    env[i] == '-' ? '_' : (char)toupper((unsigned char)env[i]);
	return env;
}
