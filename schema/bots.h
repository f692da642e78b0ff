/*
 * A loaded and validated bots.yaml. struct bots owns the node tree; every
 * string and node pointer below borrows from it and lives as long as the
 * struct bots does.
 */
#ifndef GETBOT_BOTS_H
#define GETBOT_BOTS_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "node.h"

enum bots_secret_kind {
	BOTS_SECRET_NONE,
	BOTS_SECRET_ENV,
	BOTS_SECRET_FILE,
	BOTS_SECRET_SEALED,
};

/* A reference to a secret; never the secret itself. */
struct bots_secret {
	enum bots_secret_kind kind;
	const char *ref; /* variable name, path or base64 */
	const struct node *node;
};

#define BOTS_DEFAULT_IMAGE        "debian/12"
#define BOTS_IMAGES_SERVER        "https://images.linuxcontainers.org"
#define BOTS_IMAGES_PROTOCOL      "simplestreams"
#define BOTS_DEFAULT_CADDY_ADMIN  "localhost:2019"
#define BOTS_DEFAULT_CADDY_LISTEN ":443"
#define BOTS_DEFAULT_AUTH_CONFIG  "/etc/getbot/auth.json"
#define BOTS_DEFAULT_AUTH_LISTEN  "127.0.0.1:9091"
/* Bots publish their port inside the org container on one of these, the
 * same for a team as long as the org's team names stay the same. */
#define BOTS_PORT_FIRST 20000u
#define BOTS_PORT_COUNT 10000u

enum bots_target_kind {
	BOTS_TARGET_UNKNOWN, /* malformed: the schema has said why */
	BOTS_TARGET_INCUS,
	BOTS_TARGET_CLOUDFLARE,
};

struct bots;

/* What a server target (kind incus) says: how it is reached, what its
 * org containers are made from, its Caddy, its getbot-auth, its DNS. */
struct bots_server {
	const char *connect;     /* "local" or "ssh://USER@HOST[:PORT]" */
	const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
	const char *host_key;    /* "TYPE BASE64": the pinned host key, or NULL */
	const char *identity;    /* a private key file, or NULL: the agent's,
				    then ~/.ssh/id_* */
	const char *domain;          /* IDENTITY_DEFAULT_DOMAIN when unset */
	/* The org containers' image: image_alias on image_server (NULL: an
	 * image already on the server), as image_protocol says, the
	 * server's certificate pinned with image_certificate (PEM text or a
	 * file; NULL: the system's CAs). Unset: debian/12 from the images
	 * server. */
	const char *image_alias;
	const char *image_server;
	const char *image_protocol;
	const char *image_certificate;
	const struct node *image_node; /* NULL when unset */
	const struct node *profiles; /* sequence of names, or NULL */
	const char *auth_url;
	const char *caddy_admin;         /* "localhost:2019" or "unix//PATH" */
	const struct node *caddy_listen; /* sequence, or NULL: [":443"] */
	bool caddy_https;
	const char *auth_config; /* /etc/getbot/auth.json when unset */
	const char *auth_listen; /* 127.0.0.1:9091 when unset */
	/* getbot-auth on the server; NULL: looked for (conn.h,
	 * program_dirs) */
	const char *auth_binary;
	/* Incus's socket on the server; NULL: $INCUS_SOCKET, else the usual
	 * places */
	const char *incus_socket;
	/* DNS records ORG.DOMAIN -> dns_address, through a cloudflare target */
	const char *dns_target_name; /* NULL: no DNS records */
	struct bots_target *dns_target;
	const char *dns_zone_id;
	const char *dns_address;
	bool dns_proxied;
};

/* What an edge target (kind cloudflare) says: the account and the Agent
 * Router. */
struct bots_edge {
	const char *account_id;
	struct bots_secret api_token;
	const char *router_url;
	struct bots_secret router_token;
};

struct bots_target {
	const struct bots *bots; /* the file it comes from */
	const char *name;
	enum bots_target_kind kind;
	const struct node *node;      /* the name's key node */
	const struct node *node_body; /* the target's mapping */
	struct bots_server server;    /* kind incus */
	struct bots_edge edge;        /* kind cloudflare */
};

struct bots_api_key {
	const char *provider;
	struct bots_secret secret;
};

struct bots_org;

struct bots_team {
	const char *name;
	struct bots_org *org;
	const struct node *node; /* the name's key node */
	const struct node *body; /* the team's mapping */
	const char *model;       /* the team's, else the default; may be NULL */
	const char *runtime;     /* likewise */
	const struct node *allowed_emails; /* sequence or NULL */
	struct bots_api_key *api_keys;
	size_t napi_keys;
	const char *persona;
	const char *instructions;
	bool keep_alive;
	const struct node *card; /* mapping or NULL: registration fields */
	unsigned port; /* on a server: where the org's container publishes
			  the bot (see bots_assign_ports in bots.c) */
};

struct bots_org {
	const char *name;
	const struct node *node; /* the name's key node */
	const struct node *body; /* the org's mapping */
	const char *owner;
	bool org_name_override;
	const char *target_name;
	struct bots_target *target; /* NULL when target_name names none */
	long cpu;                   /* 0: unset */
	const char *memory;
	const struct node *allowed_emails;
	struct bots_team *teams;
	size_t nteams;
};

/* Where the state and its lock live (the config's state: block). */
enum bots_state_backend {
	BOTS_STATE_LOCAL, /* a file beside bots.yaml */
	BOTS_STATE_GIT,   /* refs of the config's git remote */
};

struct bots {
	struct node_doc *doc;
	const char *file; /* the name messages give it */
	char *dir;        /* owned: where the files it names are read from
			     (runtimes/, certificates): the file's directory */
	enum bots_state_backend state_backend;
	const char *state_remote; /* git: a remote's name, or NULL (origin) */
	long state_lease;         /* seconds; 0: the default */
	const char *default_model;
	const char *default_runtime;
	struct bots_target *targets;
	size_t ntargets;
	struct bots_org *orgs;
	size_t norgs;
};

/*
 * Load, validate against the embedded schema, and check the rules a schema
 * cannot say. Every problem goes into diags. Returns 0 with *out (free with
 * bots_free) when there is no error; -1 otherwise (*out NULL).
 */
int bots_load_file(
    const char *path, struct bots **out, struct diag_list *diags);
int bots_load_buffer(const char *file, const char *buf, size_t len,
    struct bots **out, struct diag_list *diags);
/* Load path as bots_load_file does, but name it label in every message
 * (a copy of "HEAD~1:bots.yaml" read from a private directory); the files
 * it names are still read beside path. */
int bots_load_file_as(const char *path, const char *label, struct bots **out,
    struct diag_list *diags);
void bots_free(struct bots *bots);
size_t bots_count_teams(const struct bots *bots);
/* "incus", "cloudflare" or "unknown". */
const char *bots_target_kind_name(enum bots_target_kind kind);
/*
 * The certificate a server target pins its image server with, as PEM text
 * in pem (read from the file the config names, relative to bots.yaml, when
 * it is not PEM text itself); empty when none is pinned. Returns 0, or -1
 * with err.
 */
int bots_image_certificate(const struct bots_target *target,
    struct strbuf *pem, struct strbuf *err);

/* The directory runtimes live in: $GETBOT_RUNTIME_DIR, else runtimes/
 * in bots->dir. Free it. */
char *bots_runtime_dir(const struct bots *bots);
/* The target named name, or NULL. */
struct bots_target *bots_find_target(const struct bots *bots, const char *name);

#endif
