/*
 * Identity: the names getbot derives instead of asking for them twice. An
 * org's name comes from its owner's email (registrable domain, first label);
 * every other name (domain, path, container, worker, route) from org and
 * team. Every function returning char * returns a new string the caller
 * frees.
 */
#ifndef GETBOT_IDENTITY_H
#define GETBOT_IDENTITY_H

#include <stdbool.h>

#include "strbuf.h"

#define IDENTITY_DEFAULT_DOMAIN "getbot.run"
/* The central sign-in server getbot-auth sends visitors to (auth_url). */
#define IDENTITY_DEFAULT_AUTH_URL "https://auth.getbot.run"
#define IDENTITY_NAME_MAX       63 /* a DNS label, a Worker name */

/* Is s a DNS label: ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ */
bool identity_is_dns_label(const char *s);
/* Is s a host name: LDH labels of 1 to 63 characters, at least two, the
 * last not all digits, 253 characters at most? */
bool identity_is_hostname(const char *s);
/* Is s an email address getbot accepts (dot-atom local part, LDH domain
 * with at least two labels)? */
bool identity_is_email(const char *s);
/*
 * The org name an owner's email derives: the first label of the registrable
 * domain of its domain part, lowercased (alice@mail.acme.co.uk -> acme).
 * Returns 0 and *org, or -1 with the reason in err.
 */
int identity_org_from_email(const char *email, char **org, struct strbuf *err);
/* acme, getbot.run -> acme.getbot.run */
char *identity_org_domain(const char *org, const char *domain);
/* marketing -> /marketing */
char *identity_team_path(const char *team);
/* acme, getbot.run, marketing -> https://acme.getbot.run/marketing */
char *identity_bot_url(const char *org, const char *domain, const char *team);
/* The Incus container of an org: its name. */
char *identity_container_name(const char *org);
/* The Cloudflare Worker (and R2 bucket, router card) of a bot: ORG-TEAM. */
char *identity_worker_name(const char *org, const char *team);
/* Can name be a Worker name (<= 63, starts with a letter)? If not, err. */
int identity_check_worker_name(const char *name, struct strbuf *err);
/* The Caddy route @id of a bot: getbot-ORG-TEAM. */
char *identity_route_id(const char *org, const char *team);
/* The Caddy @id of an org's sign-in callback route: getbot-ORG_callback
 * ('_' never occurs in a name, so it cannot meet a bot's id). */
char *identity_callback_route_id(const char *org);
/* Docker names inside an org, as compose names them for project TEAM. */
char *identity_compose_project(const char *team);
char *identity_bot_container(const char *team);
char *identity_bot_volume(const char *team, const char *volume);
/* The environment variable that carries a provider's key:
 * anthropic -> ANTHROPIC_API_KEY. */
char *identity_key_env(const char *provider);

#endif
