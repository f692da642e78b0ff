/*
 * getbot secrets: keygen, seal NAME.
 *
 * keygen makes the seal key pair, a libsodium crypto_box (X25519) pair.
 * Each key file is one line: the key's 32 bytes in base64 (RFC 4648, with
 * padding: 44 characters), then a newline (secret.h). The public key goes
 * beside the config, to be committed; the private key to a file created
 * exclusively with mode 0600, or to standard output when --private - asks
 * for it, never anywhere else. seal reads a value on standard input, seals
 * it to the public key (crypto_box_seal) and prints the reference to paste
 * into bots.yaml. Values and private keys live in locked memory
 * (sodium_malloc), zeroed when freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "file.h"
#include "secret.h"
#include "strbuf.h"
#include "xmalloc.h"

#define SECRETS_PUBLIC_NAME  "getbot-seal.pub"
#define SECRETS_PRIVATE_DIR  ".getbot"
#define SECRETS_PRIVATE_NAME ".getbot/seal.key"
#define SECRETS_NAME_MAX     64

static const struct cmd_option cmd_secrets_options[] = {
	{ "file", 'f', "FILE",
	    "the config; the keys' default places are beside it (default: "
	    "bots.yaml)" },
	{ "public", 0, "PATH",
	    "the public key (default: " SECRETS_PUBLIC_NAME
	    " beside the config)" },
	{ "private", 0, "PATH",
	    "keygen: where the private key goes, a new file of mode 0600 "
	    "(default: " SECRETS_PRIVATE_NAME
	    " beside the config); - prints it on standard output instead" },
	{ "force", 0, NULL,
	    "keygen: replace an existing public key (values sealed to the old "
	    "one no longer open); an existing private key is never replaced" },
	{ NULL, 0, NULL, NULL },
};

/* name in the config's directory ("bots.yaml" -> name itself). Free it. */
static char *
cmd_secrets_beside(const char *config, const char *name)
{
	char *dir = file_dir(config);
	char *path = strcmp(dir, ".") == 0 ? xstrdup(name)
					   : xasprintf("%s/%s", dir, name);

	free(dir);
	return path;
}

/* Create path, which must not exist, with len bytes of text and mode. On
 * failure no file is left. */
static int
cmd_secrets_create(const char *path, const char *text, size_t len, mode_t mode,
    struct strbuf *err)
{
	bool created = false;
	int fd, rc = -1;

	/* O_EXCL: never over an existing file, never through a link */
	fd = open(
	    path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, mode);
	if (fd < 0) {
		strbuf_addf(err, "cannot create '%s': %s", path,
		    errno == EEXIST ? "it exists" : strerror(errno));
		goto out;
	}
	created = true;
	/* the mode asked for, whatever the umask */
	if (fchmod(fd, mode) < 0 || file_write_all(fd, text, len) < 0 ||
	    fsync(fd) < 0) {
		strbuf_addf(
		    err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		strbuf_addf(
		    err, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && created)
		(void)unlink(path);
	return rc;
}

/* A key's file text: one line of base64, into out (locked memory,
 * SECRETS_KEY_TEXT bytes); returns its length. */
#define SECRETS_KEY_TEXT                                                       \
	(sodium_base64_ENCODED_LEN(                                            \
	     crypto_box_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL) +      \
	    1)
static size_t
cmd_secrets_key_text(const unsigned char *key, size_t key_len, char *out)
{
	size_t len;

	sodium_bin2base64(out, SECRETS_KEY_TEXT - 1, key, key_len,
	    sodium_base64_VARIANT_ORIGINAL);
	len = strlen(out);
	out[len++] = '\n';
	return len;
}

static int
cmd_secrets_keygen(const struct cmd_args *args, const char *config)
{
	const char *public_option = cmd_args_get(args, "public");
	const char *private_option = cmd_args_get(args, "private");
	bool force = cmd_args_has(args, "force");
	bool to_stdout =
	    private_option != NULL && strcmp(private_option, "-") == 0;
	char *public_path = NULL, *private_path = NULL, *private_dir = NULL;
	unsigned char pk[crypto_box_PUBLICKEYBYTES], *sk = NULL;
	char public_text[SECRETS_KEY_TEXT], *private_text = NULL;
	struct strbuf err = STRBUF_INIT;
	size_t public_len, private_len;
	bool private_written = false;
	FILE *say = to_stdout ? stderr : stdout;
	struct stat st;
	int rc = EXIT_ERROR;

	public_path = public_option != NULL
			  ? xstrdup(public_option)
			  : cmd_secrets_beside(config, SECRETS_PUBLIC_NAME);
	if (!to_stdout)
		private_path =
		    private_option != NULL
			? xstrdup(private_option)
			: cmd_secrets_beside(config, SECRETS_PRIVATE_NAME);
	if (!force && lstat(public_path, &st) == 0) {
		fprintf(stderr,
		    "getbot secrets keygen: '%s' exists; --force replaces it "
		    "(values sealed to it then no longer open)\n",
		    public_path);
		goto out;
	}
	if (private_path != NULL && lstat(private_path, &st) == 0) {
		fprintf(stderr,
		    "getbot secrets keygen: the private key '%s' exists; "
		    "getbot never replaces one: move it away first, or name "
		    "another with --private\n",
		    private_path);
		goto out;
	}
	if (private_path != NULL && private_option == NULL) {
		private_dir = cmd_secrets_beside(config, SECRETS_PRIVATE_DIR);
		if (mkdir(private_dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr,
			    "getbot secrets keygen: cannot create '%s': %s\n",
			    private_dir, strerror(errno));
			goto out;
		}
	}
	sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	private_text = sodium_malloc(SECRETS_KEY_TEXT);
	if (sk == NULL || private_text == NULL) {
		fprintf(stderr, "getbot secrets keygen: cannot allocate locked "
				"memory\n");
		goto out;
	}
	crypto_box_keypair(pk, sk);
	public_len = cmd_secrets_key_text(pk, sizeof(pk), public_text);
	private_len =
	    cmd_secrets_key_text(sk, crypto_box_SECRETKEYBYTES, private_text);
	/* the private key first: a public key alone would be sealed to */
	if (to_stdout) {
		fflush(stdout);
		if (file_write_all(STDOUT_FILENO, private_text, private_len) <
		    0) {
			fprintf(stderr,
			    "getbot secrets keygen: cannot write the private "
			    "key on standard output: %s\n",
			    strerror(errno));
			goto out;
		}
	} else {
		if (cmd_secrets_create(private_path, private_text, private_len,
			0600, &err) != 0) {
			fprintf(stderr, "getbot secrets keygen: %s\n", err.buf);
			goto out;
		}
		private_written = true;
	}
	if ((force ? file_replace(
			 public_path, public_text, public_len, 0644, &err)
		   : cmd_secrets_create(public_path, public_text, public_len,
			 0644, &err)) != 0) {
		fprintf(stderr, "getbot secrets keygen: %s\n", err.buf);
		if (private_written)
			(void)unlink(private_path);
		goto out;
	}
	fprintf(
	    say, "Public key: %s. Commit it beside the config.\n", public_path);
	if (to_stdout) {
		fprintf(say,
		    "Private key: printed on standard output. Store it as the "
		    "CI secret GETBOT_SEAL_KEY.\n");
	} else {
		fprintf(say,
		    "Private key: %s (mode 0600). Keep it out of git.\n\n"
		    "getbot opens {sealed: ...} secrets with the private key "
		    "in GETBOT_SEAL_KEY\n"
		    "(its one line of text) or in the file "
		    "GETBOT_SEAL_KEY_FILE names. In CI,\n"
		    "store it as the secret GETBOT_SEAL_KEY, e.g.\n"
		    "  gh secret set GETBOT_SEAL_KEY < %s\n"
		    "then keep it in a password manager, or delete it.\n",
		    private_path, private_path);
	}
	fprintf(say, "Seal a value: getbot secrets seal NAME < FILE\n");
	rc = EXIT_OK;
out:
	if (sk != NULL)
		sodium_free(sk);
	if (private_text != NULL)
		sodium_free(private_text);
	free(public_path);
	free(private_path);
	free(private_dir);
	strbuf_release(&err);
	return rc;
}

/* Read the value on standard input into locked memory, at most
 * SECRET_MAX_SIZE bytes and one final newline (dropped). On a terminal,
 * one line, not echoed. */
static int
cmd_secrets_read_value(
    const char *name, unsigned char **value, size_t *len, struct strbuf *err)
{
	const size_t cap = SECRET_MAX_SIZE + 2; /* and "\r\n" */
	struct termios saved, quiet;
	bool tty = isatty(STDIN_FILENO) != 0, echo_off = false;
	unsigned char *buf = NULL;
	size_t got = 0;
	int rc = -1;

	if (tty) {
		/* echo off before the prompt, so that nothing typed after it
		 * is shown; TCSANOW: nothing typed is thrown away */
		if (tcgetattr(STDIN_FILENO, &saved) == 0) {
			quiet = saved;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			echo_off =
			    tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
		}
		fprintf(
		    stderr, "Value of %s (not shown; end with Enter): ", name);
		fflush(stderr);
	}
	buf = sodium_malloc(cap);
	if (buf == NULL) {
		strbuf_addstr(err, "cannot allocate locked memory");
		goto out;
	}
	while (got < cap && (!tty || got == 0 || buf[got - 1] != '\n')) {
		ssize_t n = read(STDIN_FILENO, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_addf(err, "cannot read standard input: %s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == cap) {
		unsigned char more;
		ssize_t n = tty ? 0 : read(STDIN_FILENO, &more, 1);

		sodium_memzero(&more, sizeof(more));
		if (n != 0 || buf[got - 1] != '\n') {
			strbuf_addf(err,
			    "the value on standard input is larger than %d "
			    "bytes",
			    SECRET_MAX_SIZE);
			goto out;
		}
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (got > SECRET_MAX_SIZE) {
		strbuf_addf(err,
		    "the value on standard input is larger than %d bytes",
		    SECRET_MAX_SIZE);
		goto out;
	}
	if (got == 0) {
		strbuf_addstr(err, "the value on standard input is empty");
		goto out;
	}
	rc = 0;
out:
	if (echo_off)
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (rc == 0) {
		*value = buf;
		*len = got;
	} else if (buf != NULL) {
		sodium_free(buf);
	}
	return rc;
}

/* A label for the output: letters, digits, '_', '-', '.'. */
static bool
cmd_secrets_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= SECRETS_NAME_MAX &&
	       strspn(name,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789_-.") == len;
}

static int
cmd_secrets_seal(const struct cmd_args *args, const char *config)
{
	const char *name = args->positional[1];
	const char *public_option = cmd_args_get(args, "public");
	char *public_path = NULL, *sealed = NULL;
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *value = NULL, *box = NULL;
	struct strbuf text = STRBUF_INIT, err = STRBUF_INIT;
	size_t value_len = 0, box_len, sealed_len;
	int rc = EXIT_ERROR, got;

	if (!cmd_secrets_name_ok(name)) {
		fprintf(stderr,
		    "getbot secrets seal: NAME is a label of letters, digits, "
		    "'_', '-' and '.', at most %d\n",
		    SECRETS_NAME_MAX);
		goto out;
	}
	if (cmd_args_has(args, "private") || cmd_args_has(args, "force")) {
		fprintf(stderr, "getbot secrets seal: --private and --force "
				"are keygen's\n");
		goto out;
	}
	public_path = public_option != NULL
			  ? xstrdup(public_option)
			  : cmd_secrets_beside(config, SECRETS_PUBLIC_NAME);
	got = file_read(public_path, SECRET_SEAL_KEY_MAX, &text, NULL, &err);
	if (got == FILE_MISSING) {
		fprintf(stderr,
		    "getbot secrets seal: no public key '%s': make the key "
		    "pair with 'getbot secrets keygen', or name the key with "
		    "--public\n",
		    public_path);
		goto out;
	}
	if (got != 0) {
		fprintf(stderr, "getbot secrets seal: %s\n", err.buf);
		goto out;
	}
	if (secret_seal_key_decode((const unsigned char *)text.buf, text.len,
		pk, sizeof(pk)) != 0) {
		fprintf(stderr,
		    "getbot secrets seal: '%s' does not hold a seal key (one "
		    "line of base64 of %d bytes, as 'getbot secrets keygen' "
		    "writes)\n",
		    public_path, crypto_box_PUBLICKEYBYTES);
		goto out;
	}
	if (cmd_secrets_read_value(name, &value, &value_len, &err) != 0) {
		fprintf(stderr, "getbot secrets seal: %s\n", err.buf);
		goto out;
	}
	box_len = crypto_box_SEALBYTES + value_len;
	box = xmalloc(box_len);
	if (crypto_box_seal(box, value, value_len, pk) != 0) {
		fprintf(stderr,
		    "getbot secrets seal: '%s' is no usable "
		    "public key\n",
		    public_path);
		goto out;
	}
	sealed_len =
	    sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL);
	sealed = xmalloc(sealed_len);
	sodium_bin2base64(
	    sealed, sealed_len, box, box_len, sodium_base64_VARIANT_ORIGINAL);
	printf("%s: {sealed: \"%s\"}\n", name, sealed);
	rc = EXIT_OK;
out:
	if (value != NULL)
		sodium_free(value);
	free(box);
	free(sealed);
	free(public_path);
	strbuf_release(&text);
	strbuf_release(&err);
	return rc;
}

static int
cmd_secrets_exec(const struct cmd_args *args)
{
	const char *sub = args->positional[0];
	const char *config = cmd_args_get(args, "file");

	if (config == NULL)
		config = "bots.yaml";
	if (strcmp(sub, "keygen") == 0) {
		if (args->npositional != 1) {
			fprintf(stderr, "usage: getbot secrets keygen "
					"[--public PATH] [--private PATH] "
					"[--force]\n");
			return EXIT_ERROR;
		}
		return cmd_secrets_keygen(args, config);
	}
	if (strcmp(sub, "seal") == 0) {
		if (args->npositional != 2) {
			fprintf(stderr, "usage: getbot secrets seal [--public "
					"PATH] NAME < FILE\n");
			return EXIT_ERROR;
		}
		return cmd_secrets_seal(args, config);
	}
	fprintf(stderr,
	    "getbot secrets: unknown subcommand '%s' (keygen, seal NAME)\n",
	    sub);
	return EXIT_ERROR;
}

const struct cmd_entry cmd_secrets_entry = {
	.name = "secrets",
	.args_usage = "keygen | seal NAME",
	.summary = "make the seal key pair, or seal a secret for bots.yaml",
	.description =
	    "'getbot secrets keygen' makes the key pair that {sealed: ...} "
	    "secrets use (libsodium crypto_box, X25519). The public key goes "
	    "to " SECRETS_PUBLIC_NAME
	    " beside the config, to be committed with it; the private key to "
	    "a new file of mode 0600, by default " SECRETS_PRIVATE_NAME
	    " beside the config, which must stay out of git. Each holds one "
	    "line: the key's 32 bytes in base64. An existing public key is "
	    "replaced only with --force, an existing private key never.\n"
	    "'getbot secrets seal NAME' reads a value on standard input (one "
	    "final newline dropped, at most 65536 bytes; on a terminal, one "
	    "line, not shown), seals it to the public key and prints "
	    "'NAME: {sealed: \"...\"}' to paste into bots.yaml, as under "
	    "api_keys. NAME is only a label; the value is never an "
	    "argument.\n"
	    "plan and apply open sealed secrets with the private key in "
	    "GETBOT_SEAL_KEY (the key's text: in CI, a secret of that name) "
	    "or in the file GETBOT_SEAL_KEY_FILE names (mode 0600 or "
	    "stricter).",
	.options = cmd_secrets_options,
	.min_args = 1,
	.max_args = 2,
	.needs_providers = false,
	.exec = cmd_secrets_exec,
};
