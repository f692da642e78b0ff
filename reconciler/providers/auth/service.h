/*
 * The getbot-auth service on a server, supervised through the server's
 * connection (conn.h): its files through the connection's file
 * operations, commands (systemctl, kill, tail, realpath) through run, the
 * daemon through spawn. The auth provider decides when; this module knows
 * how.
 *
 * It runs one of two ways. Where the server runs systemd
 * (/run/systemd/system is there) it is the unit getbot-auth.service,
 * installed in /etc/systemd/system from getbot-auth.service.in under
 * getbot's mark, enabled and started; a reload is `systemctl
 * try-reload-or-restart`. A unit that differs from the one getbot would
 * write now is stale, and only a restart installs it again. Elsewhere (containers, CI) it is a detached
 * daemon with its pid file and log beside auth.json (getbot-auth.pid,
 * "PID LISTEN\n"; getbot-auth.log), known by its pid and its command line
 * (/proc/PID/cmdline on the server), and reloaded with SIGHUP.
 *
 * Functions return 0, or -1 with err saying why in the words of what
 * failed (systemctl's, the daemon's last log line).
 */
#ifndef GETBOT_AUTH_SERVICE_H
#define GETBOT_AUTH_SERVICE_H

#include <stdbool.h>

#include "strbuf.h"

struct conn;

/* One server's getbot-auth: which auth.json it serves, and how it runs. */
struct service {
	char *config;   /* owned: auth.json */
	char *binary;   /* owned: auth.binary, or NULL */
	char *pid_file; /* owned: without systemd, "PID LISTEN\n" */
	char *log_file; /* owned: without systemd, the daemon's output */
	bool systemd;   /* the server runs systemd: the service is a unit */
};

/* What service_observe found. */
struct service_status {
	bool present; /* its unit (systemd) or its pid file (else) is there */
	bool owned;   /* the unit carries getbot's mark; a pid file is ours */
	bool running;
	/* systemd: the unit installed is not the one getbot would write now
	 * (edited by hand, or for another getbot-auth or auth.json); only a
	 * restart installs it again */
	bool stale;
	/* owned: where the running daemon listens, from its pid file (a
	 * reload does not move it), or NULL */
	char *listen;
};

/* The service for config (auth.json, a path that service_check_path
 * accepts) on conn's server, run from binary (auth.binary) or, when NULL,
 * from where the connection's program directories hold getbot-auth; conn
 * is only looked at (does the server run systemd?), not kept. */
void service_init(struct service *svc, struct conn *conn, const char *config,
    const char *binary);
void service_release(struct service *svc);

/*
 * Is path fit to be written into a unit's ExecStart: absolute, plain
 * characters only (systemd would read '%', '$', quotes and spaces), no
 * empty, "." or ".." component, no trailing slash? what names it in err.
 */
int service_check_path(const char *what, const char *path, struct strbuf *err);

/* The service as it is; never fails: what cannot be read is not there,
 * or not running. Release status with service_status_release. */
void service_observe(const struct service *svc, struct conn *conn,
    struct service_status *status);
void service_status_release(struct service_status *status);

/*
 * Before anything changes: is what the service needs on the server? One
 * line a missing piece is appended to missing, saying what is wrong and
 * how to mend it: getbot-auth not found, or not running (a library
 * missing: the loader's words, and the Debian package), and where the
 * server runs systemd, a unit that could not reach it or systemctl not
 * running.
 */
void service_check(
    const struct service *svc, struct conn *conn, struct strbuf *missing);

/* Start the service listening on listen (auth.json's), or restart it if
 * it runs; wait until it listens. */
int service_restart(const struct service *svc, struct conn *conn,
    const char *listen, struct strbuf *err);
/* Have the service read auth.json again, if it runs: err holds
 * getbot-auth's refusal if it refuses the file. */
int service_reload(
    const struct service *svc, struct conn *conn, struct strbuf *err);
/* Stop the service and remove its unit or pid file; its log stays. */
int service_stop(
    const struct service *svc, struct conn *conn, struct strbuf *err);
/* Remove what a stopped service leaves beside auth.json (its log), as
 * far as it can. */
void service_forget(const struct service *svc, struct conn *conn);

/* getbot-auth.service.in, embedded at build time (auth-unit-data.c). */
extern const char service_unit_template[];

#endif
