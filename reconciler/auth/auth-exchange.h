/*
 * The code exchange with the central sign-in server (auth_url). The
 * contract, which tests/fakes/fake-auth.py serves too:
 *
 *   POST {auth_url}/exchange
 *   Authorization: Bearer CODE_EXCHANGE_SECRET   (as written in auth.json)
 *   Content-Type: application/json
 *   {"code": "CODE", "redirect_uri": "https://ORG.DOMAIN/_getbot/callback"}
 *
 *   200 {"email": "bob@acme.com"}     the code was good, and is now spent
 *   400 {"error": "invalid_grant"}    unknown, used or expired (30 s) code,
 *                                     or another redirect_uri
 *   401 {"error": "invalid_client"}   wrong secret
 *
 * The server never learns whether the email was then let in.
 */
#ifndef GETBOT_AUTH_EXCHANGE_H
#define GETBOT_AUTH_EXCHANGE_H

#include "auth-config.h"
#include "strbuf.h"

#define AUTH_EXCHANGE_REFUSED (-2)  /* the server refused the code */
#define AUTH_EXCHANGE_TIMEOUT 10    /* seconds for the whole exchange */
#define AUTH_EXCHANGE_MAX     16384 /* the largest answer read */

/*
 * Exchange code for the email it was issued to. Returns 0 and *email (the
 * caller frees it), AUTH_EXCHANGE_REFUSED when the server refused the code,
 * or -1 on any other failure; err says why, never with a secret.
 */
int auth_exchange_code(const struct auth_config *cfg, const char *code,
    const char *redirect_uri, char **email, struct strbuf *err);

#endif
