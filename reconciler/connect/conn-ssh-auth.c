/*
 * Who is at the other end, and who we are: the server's host key checked
 * against host_key: or known_hosts (OpenSSH's format, hashed and
 * [host]:port entries included, read with libssh2_knownhost_*), a first
 * contact trusted only with --accept-new-host-key, a changed key never;
 * then sign-in with the ssh-agent's keys or a key file. Runs once, while
 * the connection opens, in blocking mode on one thread.
 *
 * A passphrase comes from the agent or GETBOT_SSH_PASSPHRASE only, and
 * goes nowhere but libssh2: never into a message. The variable is taken
 * out of the environment at start (conn_ssh_take_passphrase), so no
 * command getbot starts inherits it, and kept in guarded memory that is
 * readable only while a key is being opened.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <pwd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bots.h"
#include "conn-ssh.h"
#include "file.h"
#include "xmalloc.h"

#define SSH_KNOWN_HOSTS_MAX (16u << 20)
#define SSH_PUBLIC_KEY_MAX  16384

/* The key types getbot knows, in the order it prefers them. */
static const struct ssh_key_type {
	int hostkey;       /* LIBSSH2_HOSTKEY_TYPE_* */
	int knownhost;     /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;  /* in key files and host_key: */
	const char *algos; /* host key algorithms, for the handshake */
	const char *shown; /* as ssh-keygen -l shows it */
} ssh_key_types[] = {
	{ LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519,
	    "ssh-ed25519", "ssh-ed25519", "ED25519" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
	    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", "ECDSA" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384,
	    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", "ECDSA" },
	{ LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521,
	    "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", "ECDSA" },
	{ LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
	    "rsa-sha2-512,rsa-sha2-256,ssh-rsa", "RSA" },
};

static const struct ssh_key_type *
ssh_key_type_of(int hostkey_type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
		if (ssh_key_types[i].hostkey == hostkey_type)
			return &ssh_key_types[i];
	return NULL;
}

static const struct ssh_key_type *
ssh_key_type_named(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
		if (strlen(ssh_key_types[i].name) == len &&
		    strncmp(ssh_key_types[i].name, name, len) == 0)
			return &ssh_key_types[i];
	return NULL;
}

static const char *
ssh_home(void)
{
	const char *home = getenv("HOME");
	const struct passwd *pw;

	if (home != NULL && home[0] == '/')
		return home;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
}

char *
ssh_config_path(const char *path, const struct conn_options *options)
{
	if (strncmp(path, "~/", 2) == 0)
		return xasprintf("%s/%s", ssh_home(), path + 2);
	if (path[0] == '/' || options->base_dir == NULL)
		return xstrdup(path);
	return xasprintf("%s/%s", options->base_dir, path);
}

/* SHA256:BASE64 of a key blob, as ssh-keygen -l prints it. */
static void
ssh_add_fingerprint(struct strbuf *sb, const unsigned char *blob, size_t len)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	char text[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];

	crypto_hash_sha256(hash, blob, len);
	sodium_bin2base64(text, sizeof(text), hash, sizeof(hash),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	strbuf_addf(sb, "SHA256:%s", text);
}

/* The key blob of a public key line "TYPE BASE64 [comment]" into blob;
 * its type, or NULL when the line is not one. */
static const struct ssh_key_type *
ssh_parse_public_key(const char *line, struct strbuf *blob)
{
	const struct ssh_key_type *type;
	size_t type_len = strcspn(line, " \t"), b64_len, bin_len = 0;
	const char *b64;

	type = ssh_key_type_named(line, type_len);
	if (type == NULL || line[type_len] == '\0')
		return NULL;
	b64 = line + type_len + strspn(line + type_len, " \t");
	b64_len =
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
			"xyz0123456789+/=");
	while (b64_len > 0 && b64[b64_len - 1] == '=')
		b64_len--;
	strbuf_reset(blob);
	strbuf_grow(blob, b64_len);
	if (b64_len == 0 || sodium_base642bin((unsigned char *)blob->buf,
				b64_len, b64, b64_len, NULL, &bin_len, NULL,
				sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
		return NULL;
	strbuf_setlen(blob, bin_len);
	return type;
}

/* The server's name in known_hosts: "host", or "[host]:port" off port
 * 22, as OpenSSH writes and looks it up. */
static char *
ssh_known_name(const struct conn_ssh *c)
{
	if (c->port == 22)
		return xstrdup(c->host);
	return xasprintf("[%s]:%u", c->host, c->port);
}

/* The known_hosts file this target uses. */
static char *
ssh_known_hosts_path(
    const struct bots_target *target, const struct conn_options *options)
{
	if (target->server.known_hosts != NULL)
		return ssh_config_path(target->server.known_hosts, options);
	return xasprintf("%s/.ssh/known_hosts", ssh_home());
}

/* The next line of text at *pos (without its newline), or NULL at the
 * end. */
static const char *
ssh_next_line(const struct strbuf *text, size_t *pos, size_t *len)
{
	const char *line, *nl;

	if (*pos >= text->len)
		return NULL;
	line = text->buf + *pos;
	nl = memchr(line, '\n', text->len - *pos);
	*len = nl != NULL ? (size_t)(nl - line) : text->len - *pos;
	*pos += *len + 1;
	return line;
}

/* Load one known_hosts line into hosts: a line libssh2 cannot read (a
 * marker, a certificate, a key type it does not know) is skipped, and
 * never hides the others. */
static void
ssh_known_load_line(LIBSSH2_KNOWNHOSTS *hosts, const char *line, size_t len)
{
	char *copy;

	len = len > 8192 ? 8192 : len;
	if (len == 0 || line[0] == '@')
		return;
	copy = xstrndup(line, len);
	(void)libssh2_knownhost_readline(
	    hosts, copy, strlen(copy), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	free(copy);
}

/* Is blob revoked by a "@revoked HOSTS TYPE KEY" line of text? Its line
 * number, or 0. */
static unsigned
ssh_known_revoked(const struct strbuf *text, const char *blob, size_t len)
{
	struct strbuf revoked = STRBUF_INIT;
	size_t pos = 0, line_len;
	const char *line, *key;
	unsigned number = 0, found = 0;

	while (found == 0 && (line = ssh_next_line(text, &pos, &line_len))) {
		char *copy;

		number++;
		if (strncmp(line, "@revoked", 8) != 0)
			continue;
		copy = xstrndup(line, line_len > 8192 ? 8192 : line_len);
		key = copy + 8 + strspn(copy + 8, " \t");
		key += strcspn(key, " \t"); /* the hosts */
		key += strspn(key, " \t");
		if (ssh_parse_public_key(key, &revoked) != NULL &&
		    revoked.len == len && memcmp(revoked.buf, blob, len) == 0)
			found = number;
		free(copy);
	}
	strbuf_release(&revoked);
	return found;
}

/* The first line of text that holds another key of the same type for
 * name: the line a changed key contradicts. */
static unsigned
ssh_known_contradicted(LIBSSH2_SESSION *session, const struct strbuf *text,
    const char *name, const char *key, size_t key_len, int typemask)
{
	size_t pos = 0, line_len;
	const char *line;
	unsigned number = 0;

	while ((line = ssh_next_line(text, &pos, &line_len)) != NULL) {
		LIBSSH2_KNOWNHOSTS *one = libssh2_knownhost_init(session);
		int rc;

		number++;
		if (one == NULL)
			return 0;
		ssh_known_load_line(one, line, line_len);
		rc = libssh2_knownhost_checkp(
		    one, name, -1, key, key_len, typemask, NULL);
		libssh2_knownhost_free(one);
		if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
			return number;
	}
	return 0;
}

/* Read the known_hosts file at path into text; a missing one is empty. */
static int
ssh_known_read(const char *path, struct strbuf *text, struct strbuf *err)
{
	int rc = file_read(path, SSH_KNOWN_HOSTS_MAX, text, NULL, err);

	return rc == FILE_MISSING ? 0 : rc;
}

/* Append the algorithms of the comma-separated list algos that this
 * libssh2 supports to prefs (libssh2 1.10 mishandles dropping one it does
 * not: it memcpy()s overlapping memory). */
static void
ssh_add_supported(struct conn_ssh *c, struct strbuf *prefs, const char *algos)
{
	const char **supported = NULL;
	int n = libssh2_session_supported_algs(
	    c->session, LIBSSH2_METHOD_HOSTKEY, &supported);

	while (*algos != '\0') {
		size_t len = strcspn(algos, ",");
		int i;

		for (i = 0; i < n; i++)
			if (strlen(supported[i]) == len &&
			    strncmp(supported[i], algos, len) == 0) {
				strbuf_addf(prefs, "%s%.*s",
				    prefs->len > 0 ? "," : "", (int)len, algos);
				break;
			}
		algos += len + (algos[len] == ',');
	}
	if (supported != NULL)
		libssh2_free(c->session, supported);
}

int
ssh_hostkey_prefer(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err)
{
	struct strbuf prefs = STRBUF_INIT, text = STRBUF_INIT,
		      blob = STRBUF_INIT, why = STRBUF_INIT;
	LIBSSH2_KNOWNHOSTS *hosts = NULL;
	char *path = NULL, *name = NULL;
	bool known[ARRAY_SIZE(ssh_key_types)] = { false };
	size_t i, pos = 0, len;
	const char *line;
	int rc = 0;

	/*
	 * Ask for a key of the type host_key pins, or of the types
	 * known_hosts holds for this server, first: a server has keys of
	 * several types, and a key of a type not yet recorded would look
	 * unknown (OpenSSH orders its algorithms the same way).
	 */
	if (target->server.host_key != NULL) {
		const struct ssh_key_type *pinned =
		    ssh_parse_public_key(target->server.host_key, &blob);

		for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
			known[i] = &ssh_key_types[i] == pinned;
	} else {
		path = ssh_known_hosts_path(target, options);
		name = ssh_known_name(c);
		hosts = libssh2_knownhost_init(c->session);
		/* an unreadable file is said by ssh_hostkey_verify */
		if (hosts != NULL && ssh_known_read(path, &text, &why) == 0) {
			while ((line = ssh_next_line(&text, &pos, &len)))
				ssh_known_load_line(hosts, line, len);
			for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
				/* a key no server has: a match of the
				 * name and type shows as a mismatch */
				known[i] =
				    libssh2_knownhost_checkp(hosts, name, -1,
					"\0\0\0\0", 4,
					LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					    LIBSSH2_KNOWNHOST_KEYENC_RAW |
					    ssh_key_types[i].knownhost,
					NULL) ==
				    LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
		}
	}
	for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
		if (known[i])
			ssh_add_supported(c, &prefs, ssh_key_types[i].algos);
	for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++)
		if (!known[i])
			ssh_add_supported(c, &prefs, ssh_key_types[i].algos);
	if (prefs.len > 0 && libssh2_session_method_pref(c->session,
				 LIBSSH2_METHOD_HOSTKEY, prefs.buf) != 0)
		rc = ssh_fail(c, -1, err, "host key algorithms");
	if (hosts != NULL)
		libssh2_knownhost_free(hosts);
	free(path);
	free(name);
	strbuf_release(&prefs);
	strbuf_release(&text);
	strbuf_release(&blob);
	strbuf_release(&why);
	return rc;
}

/* The server presents a key host_key does not pin. */
static int
ssh_hostkey_pinned(struct conn_ssh *c, const struct bots_target *target,
    const char *key, size_t key_len, const struct ssh_key_type *type,
    struct strbuf *err)
{
	struct strbuf blob = STRBUF_INIT;
	const struct ssh_key_type *pinned =
	    ssh_parse_public_key(target->server.host_key, &blob);
	int rc = 0;

	if (pinned == NULL) {
		strbuf_addf(err,
		    "%s: host_key is not a public key line "
		    "(TYPE BASE64)",
		    c->base.label);
		rc = -1;
	} else if (blob.len != key_len || memcmp(blob.buf, key, key_len) != 0) {
		strbuf_addf(err,
		    "%s: host key mismatch: the server presents %s key ",
		    c->base.label, type != NULL ? type->shown : "an unknown");
		ssh_add_fingerprint(err, (const unsigned char *)key, key_len);
		strbuf_addf(err, ", but host_key pins %s key ", pinned->shown);
		ssh_add_fingerprint(
		    err, (const unsigned char *)blob.buf, blob.len);
		strbuf_addstr(err, "; someone may be in between, or the "
				   "server's key changed");
		rc = -1;
	}
	strbuf_release(&blob);
	return rc;
}

/* Append name's key to the known_hosts file at path (made, with its
 * directory, when missing). */
static int
ssh_known_append(struct conn_ssh *c, const char *path, const char *name,
    const char *key, size_t key_len, int typemask, const struct strbuf *text,
    struct strbuf *err)
{
	LIBSSH2_KNOWNHOSTS *hosts = libssh2_knownhost_init(c->session);
	struct libssh2_knownhost *entry = NULL;
	char line[8192];
	size_t len = 0;
	char *dir = file_dir(path);
	int fd = -1, rc = -1;

	if (hosts == NULL ||
	    libssh2_knownhost_addc(hosts, name, NULL, key, key_len, NULL, 0,
		typemask, &entry) != 0 ||
	    libssh2_knownhost_writeline(hosts, entry, line, sizeof(line), &len,
		LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
		ssh_fail(c, -1, err, "cannot record the host key");
		goto out;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		strbuf_addf(err, "%s: cannot create %s: %s", c->base.label, dir,
		    strerror(errno));
		goto out;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 ||
	    (text->len > 0 && text->buf[text->len - 1] != '\n' &&
		file_write_all(fd, "\n", 1) != 0) ||
	    file_write_all(fd, line, len) != 0 || fsync(fd) != 0) {
		strbuf_addf(err, "%s: cannot add the host key to %s: %s",
		    c->base.label, path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (hosts != NULL)
		libssh2_knownhost_free(hosts);
	free(dir);
	return rc;
}

/*
 * The server presents a key of a type known_hosts holds none of for name;
 * but libssh2 skips entries of other types, so a key of any other type
 * recorded for name makes this one look merely unknown. The server's
 * keys do not change type on their own: one that offers only another type
 * may be someone in between, and is refused (never appended).
 */
static int
ssh_hostkey_other_type(struct conn_ssh *c, const struct strbuf *text,
    const char *path, const char *name, const char *key, size_t key_len,
    const struct ssh_key_type *type, struct strbuf *err)
{
	const struct ssh_key_type *recorded = NULL;
	unsigned number = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ssh_key_types); i++) {
		const struct ssh_key_type *other = &ssh_key_types[i];
		unsigned line;

		if (other == type)
			continue;
		/* a key no server has: an entry of that type for name
		 * shows as a mismatch */
		line = ssh_known_contradicted(c->session, text, name,
		    "\0\0\0\0", 4,
		    LIBSSH2_KNOWNHOST_TYPE_PLAIN |
			LIBSSH2_KNOWNHOST_KEYENC_RAW | other->knownhost);
		if (line != 0 && (number == 0 || line < number)) {
			number = line;
			recorded = other;
		}
	}
	if (recorded == NULL)
		return 0;
	strbuf_addf(err,
	    "%s: host key changed: the server presents an %s key (",
	    c->base.label,
	    strcmp(type->shown, recorded->shown) != 0 ? type->shown
						      : type->name);
	ssh_add_fingerprint(err, (const unsigned char *)key, key_len);
	strbuf_addf(err,
	    "), but %s holds an %s key for %s (line %u); someone may be in "
	    "between, offering only another type of key, or the server's "
	    "keys were changed: if you know they were, remove that line "
	    "(ssh-keygen -R '%s' -f %s); --accept-new-host-key never "
	    "replaces a key",
	    path,
	    strcmp(type->shown, recorded->shown) != 0 ? recorded->shown
						      : recorded->name,
	    name, number, name, path);
	return -1;
}

int
ssh_hostkey_verify(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err)
{
	struct strbuf text = STRBUF_INIT, note = STRBUF_INIT, why = STRBUF_INIT;
	LIBSSH2_KNOWNHOSTS *hosts = NULL;
	const struct ssh_key_type *type;
	const char *key, *line;
	char *path = NULL, *name = NULL;
	size_t key_len = 0, pos = 0, len;
	unsigned number;
	int key_type = 0, typemask, check, rc = -1;

	key = libssh2_session_hostkey(c->session, &key_len, &key_type);
	type = ssh_key_type_of(key_type);
	if (key == NULL || key_len == 0) {
		ssh_fail(c, -1, err, "no host key");
		goto out;
	}
	if (target->server.host_key != NULL) {
		rc = ssh_hostkey_pinned(c, target, key, key_len, type, err);
		goto out;
	}
	path = ssh_known_hosts_path(target, options);
	name = ssh_known_name(c);
	if (ssh_known_read(path, &text, &why) != 0) {
		strbuf_addf(err, "%s: known_hosts: %s", c->base.label, why.buf);
		goto out;
	}
	if ((number = ssh_known_revoked(&text, key, key_len)) != 0) {
		strbuf_addf(err, "%s: the server's host key ", c->base.label);
		ssh_add_fingerprint(err, (const unsigned char *)key, key_len);
		strbuf_addf(
		    err, " is revoked (@revoked in %s:%u)", path, number);
		goto out;
	}
	hosts = libssh2_knownhost_init(c->session);
	if (hosts == NULL) {
		ssh_fail(c, -1, err, "known hosts");
		goto out;
	}
	while ((line = ssh_next_line(&text, &pos, &len)) != NULL)
		ssh_known_load_line(hosts, line, len);
	typemask =
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    (type != NULL ? type->knownhost : LIBSSH2_KNOWNHOST_KEY_UNKNOWN);
	check = libssh2_knownhost_checkp(
	    hosts, name, -1, key, key_len, typemask, NULL);
	if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		rc = 0;
		goto out;
	}
	if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		number = ssh_known_contradicted(
		    c->session, &text, name, key, key_len, typemask);
		strbuf_addf(err,
		    "%s: host key changed: the server presents %s key ",
		    c->base.label, type->shown);
		ssh_add_fingerprint(err, (const unsigned char *)key, key_len);
		strbuf_addf(err,
		    ", but %s:%u holds another %s key for %s; someone may be "
		    "in between, or the server's key was changed: if you know "
		    "it was, remove that line (ssh-keygen -R '%s' -f %s); "
		    "--accept-new-host-key never replaces a key",
		    path, number, type->shown, name, name, path);
		goto out;
	}
	if (check != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND || type == NULL) {
		strbuf_addf(err, "%s: cannot check the host key against %s",
		    c->base.label, path);
		goto out;
	}
	if (ssh_hostkey_other_type(
		c, &text, path, name, key, key_len, type, err) != 0)
		goto out;
	if (!options->accept_new_host_key) {
		strbuf_addf(err,
		    "%s: the server's host key is unknown: it presents %s key ",
		    c->base.label, type->shown);
		ssh_add_fingerprint(err, (const unsigned char *)key, key_len);
		strbuf_addf(err,
		    ", which %s does not hold for %s; compare it with "
		    "'ssh-keygen -lf' of the server's "
		    "/etc/ssh/ssh_host_*_key.pub, and if it is the same, run "
		    "again with --accept-new-host-key (or set host_key:)",
		    path, name);
		goto out;
	}
	if (ssh_known_append(
		c, path, name, key, key_len, typemask, &text, err) != 0)
		goto out;
	if (options->note != NULL) {
		strbuf_addf(
		    &note, "%s: trusted the new host key ", c->base.label);
		ssh_add_fingerprint(&note, (const unsigned char *)key, key_len);
		strbuf_addf(
		    &note, " (%s) and added it to %s", type->shown, path);
		options->note(options->note_ctx, note.buf);
	}
	rc = 0;
out:
	if (hosts != NULL)
		libssh2_knownhost_free(hosts);
	free(path);
	free(name);
	strbuf_release(&text);
	strbuf_release(&note);
	strbuf_release(&why);
	return rc;
}

/* ---- signing in ---- */

/* What was tried, for the message when nothing worked. */
struct ssh_tried {
	struct strbuf what; /* "the agent's 2 keys, /root/.ssh/id_rsa" */
	struct strbuf why;  /* the last refusal, in libssh2's words */
};

static void
ssh_tried_add(struct ssh_tried *tried, const char *what)
{
	if (tried->what.len > 0)
		strbuf_addstr(&tried->what, ", ");
	strbuf_addstr(&tried->what, what);
}

static void
ssh_tried_why(struct ssh_tried *tried, LIBSSH2_SESSION *session)
{
	char *message = NULL;

	(void)libssh2_session_last_error(session, &message, NULL, 0);
	strbuf_reset(&tried->why);
	strbuf_addstr(&tried->why,
	    message != NULL && *message != '\0' ? message : "refused");
}

/* Sign in with the agent's keys: every one, or only the one whose public
 * key is want (the identity's, NULL: any). 0 when one worked. */
static int
ssh_auth_agent(
    struct conn_ssh *c, const struct strbuf *want, struct ssh_tried *tried)
{
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *identity = NULL, *prev = NULL;
	unsigned offered = 0;
	int rc = -1;

	if (getenv("SSH_AUTH_SOCK") == NULL)
		return -1;
	agent = libssh2_agent_init(c->session);
	if (agent == NULL)
		return -1;
	if (libssh2_agent_connect(agent) != 0 ||
	    libssh2_agent_list_identities(agent) != 0) {
		ssh_tried_add(tried, "no ssh-agent at SSH_AUTH_SOCK");
		goto out;
	}
	while (rc != 0 &&
	       libssh2_agent_get_identity(agent, &identity, prev) == 0) {
		prev = identity;
		if (want != NULL &&
		    (want->len != identity->blob_len ||
			memcmp(want->buf, identity->blob, want->len) != 0))
			continue;
		offered++;
		if (libssh2_agent_userauth(agent, c->user, identity) == 0)
			rc = 0;
		else
			ssh_tried_why(tried, c->session);
	}
	if (rc != 0) {
		struct strbuf what = STRBUF_INIT;

		if (want != NULL)
			strbuf_addstr(&what,
			    offered > 0 ? "the key through the agent"
					: "the agent (without that key)");
		else
			strbuf_addf(&what, "the agent's %u key%s", offered,
			    offered == 1 ? "" : "s");
		ssh_tried_add(tried, what.buf);
		strbuf_release(&what);
	}
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return rc;
}

static pthread_mutex_t ssh_passphrase_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ssh_passphrase_taken;
static char *ssh_passphrase; /* sodium_malloc'd, no access; or NULL */

void
conn_ssh_take_passphrase(void)
{
	char *value;
	size_t len;

	pthread_mutex_lock(&ssh_passphrase_lock);
	value = ssh_passphrase_taken ? NULL : getenv("GETBOT_SSH_PASSPHRASE");
	ssh_passphrase_taken = true;
	if (value != NULL) {
		len = strlen(value);
		ssh_passphrase = sodium_malloc(len + 1);
		if (ssh_passphrase == NULL) {
			fprintf(stderr, "getbot: out of memory (%zu bytes)\n",
			    len + 1);
			abort();
		}
		memcpy(ssh_passphrase, value, len + 1);
		(void)sodium_mprotect_noaccess(ssh_passphrase);
		/* the environment's own copy, wherever else it lingers */
		sodium_memzero(value, len);
		unsetenv("GETBOT_SSH_PASSPHRASE");
	}
	pthread_mutex_unlock(&ssh_passphrase_lock);
}

void
conn_ssh_forget_passphrase(void)
{
	pthread_mutex_lock(&ssh_passphrase_lock);
	if (ssh_passphrase != NULL)
		sodium_free(ssh_passphrase); /* zeroed first */
	ssh_passphrase = NULL;
	pthread_mutex_unlock(&ssh_passphrase_lock);
}

/* Sign in with the private key file at path. 0 when it worked. */
static int
ssh_auth_file(struct conn_ssh *c, const char *path, struct ssh_tried *tried)
{
	char *message = NULL;
	bool passphrase;
	int rc;

	conn_ssh_take_passphrase(); /* done at start by getbot itself */
	pthread_mutex_lock(&ssh_passphrase_lock);
	passphrase = ssh_passphrase != NULL;
	if (passphrase)
		(void)sodium_mprotect_readonly(ssh_passphrase);
	rc = libssh2_userauth_publickey_fromfile_ex(c->session, c->user,
	    (unsigned)strlen(c->user), NULL, path, ssh_passphrase);
	if (passphrase)
		(void)sodium_mprotect_noaccess(ssh_passphrase);
	pthread_mutex_unlock(&ssh_passphrase_lock);
	if (rc == 0)
		return 0;
	ssh_tried_add(tried, path);
	if (rc == LIBSSH2_ERROR_FILE) {
		/* it could not be read: say which, and how a key with a
		 * passphrase is used */
		(void)libssh2_session_last_error(c->session, &message, NULL, 0);
		strbuf_reset(&tried->why);
		strbuf_addf(&tried->why, "cannot read the key: %s",
		    message != NULL ? message : "unreadable");
		if (!passphrase)
			strbuf_addstr(&tried->why,
			    " (a key with a passphrase needs "
			    "GETBOT_SSH_PASSPHRASE, or ssh-agent)");
	} else
		ssh_tried_why(tried, c->session);
	return -1;
}

/* The public key beside a private key file (PATH.pub) into blob. */
static int
ssh_identity_public(const char *path, struct strbuf *blob)
{
	struct strbuf text = STRBUF_INIT, ignored = STRBUF_INIT;
	char *pub = xasprintf("%s.pub", path);
	int rc = -1;

	if (file_read(pub, SSH_PUBLIC_KEY_MAX, &text, NULL, &ignored) == 0 &&
	    ssh_parse_public_key(text.buf, blob) != NULL)
		rc = 0;
	free(pub);
	strbuf_release(&text);
	strbuf_release(&ignored);
	return rc;
}

int
ssh_authenticate(struct conn_ssh *c, const struct bots_target *target,
    const struct conn_options *options, struct strbuf *err)
{
	static const char *const defaults[] = { "id_ed25519", "id_ecdsa",
		"id_rsa" };
	struct ssh_tried tried = { STRBUF_INIT, STRBUF_INIT };
	struct strbuf public = STRBUF_INIT;
	char *identity = NULL, *methods;
	size_t i;
	int rc = -1;

	methods = libssh2_userauth_list(
	    c->session, c->user, (unsigned)strlen(c->user));
	if (methods == NULL) {
		if (libssh2_userauth_authenticated(c->session))
			return 0;
		return ssh_fail(c, -1, err, "sign-in");
	}
	if (strstr(methods, "publickey") == NULL) {
		strbuf_addf(err,
		    "%s: the server takes no key for %s (it offers: ",
		    c->base.label, c->user);
		ssh_add_printable(err, methods, strnlen(methods, 200));
		strbuf_addch(err, ')');
		return -1;
	}
	if (target->server.identity != NULL) {
		identity = ssh_config_path(target->server.identity, options);
		if (access(identity, R_OK) != 0) {
			strbuf_addf(err, "%s: identity %s: %s", c->base.label,
			    identity, strerror(errno));
			goto out;
		}
		/* a key with a passphrase may be in the agent already */
		if (ssh_identity_public(identity, &public) == 0 &&
		    ssh_auth_agent(c, &public, &tried) == 0)
			rc = 0;
		else if (ssh_auth_file(c, identity, &tried) == 0)
			rc = 0;
	} else {
		if (ssh_auth_agent(c, NULL, &tried) == 0)
			rc = 0;
		for (i = 0; rc != 0 && i < ARRAY_SIZE(defaults); i++) {
			char *path =
			    xasprintf("%s/.ssh/%s", ssh_home(), defaults[i]);

			if (access(path, F_OK) == 0 &&
			    ssh_auth_file(c, path, &tried) == 0)
				rc = 0;
			free(path);
		}
	}
	if (rc == 0)
		goto out;
	if (c->lost)
		ssh_fail(c, SSH_LOST, err, "sign-in");
	else if (tried.what.len == 0)
		strbuf_addf(err,
		    "%s: no key to sign in with: no ssh-agent (SSH_AUTH_SOCK) "
		    "and none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa; set "
		    "identity:",
		    c->base.label);
	else
		strbuf_addf(err, "%s: cannot sign in as %s with %s: %s",
		    c->base.label, c->user, tried.what.buf, tried.why.buf);
out:
	free(identity);
	strbuf_release(&tried.what);
	strbuf_release(&tried.why);
	strbuf_release(&public);
	return rc;
}
