/*
 * Credentials (docs/rest.md "Tenancy and auth", DESIGN.md §9): what a request carries becomes a
 * principal (core/authz.h), the same way for the RPC (Request.auth_token) and the REST API
 * (Authorization: Bearer). The policy itself is core/authz.c; this file checks signatures and
 * reads key files.
 *
 * Accepted credentials, when configured:
 *   - the node's shared secret (auth_token): admin, compared in constant time;
 *   - a JWT signed HS256 with the secret of a key file (the file's bytes, one trailing newline
 *     dropped): the signature is recomputed and compared in constant time before libjwt reads
 *     the token;
 *   - a JWT signed RS256 or ES256, by the public key of a PEM file (RSA: RS256, P-256: ES256)
 *     or of a JWKS file (the token's kid picks the key; RSA and EC P-256 keys are read).
 * The token's alg must be the key's: a token cannot choose how it is checked ("none" and
 * HS256-with-a-public-key are refused). Then the claims (exp, nbf, iss, aud, roles) are judged by
 * authzFromClaims with the node's clock.
 *
 * Key files are read once at start (authInit); a change needs a restart. Nothing here is
 * logged with a secret in it: messages name the claim or the step, never the token.
 */
#ifndef RC_NODE_AUTH_H
#define RC_NODE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/authz.h"

struct auth_options {
    const char *secret;          /* the shared secret (auth_token), or NULL */
    const char *hs256_key_file;  /* or NULL */
    const char *public_key_file; /* PEM, or NULL */
    const char *jwks_file;       /* or NULL */
    const char *issuer;          /* or NULL */
    const char *audience;        /* or NULL */
    int64_t leeway_us;
    const char *claim; /* or NULL: "raftcron" */
};

struct auth_key;

struct auth {
    bool enabled;                /* read-only: some credential is configured */
    char *secret;                /* owned, or NULL */
    uint8_t *hmac_key;           /* owned, or NULL */
    size_t hmac_len;             /* bytes of hmac_key */
    struct auth_key *keys;       /* owned: public keys (PEM), the file's one or the JWKS' */
    size_t n_keys;               /* keys held */
    char issuer[256];            /* private */
    char audience[256];          /* private */
    char claim[64];              /* private */
    struct rc_authz_rules rules; /* private: points into the above */
};

/* Read the key files. Returns 0, or RC_EINVAL / RC_EIO / RC_ENOMEM with a message naming the
 * file and what is wrong with it. Free with authClose (also after a failure). */
int authInit(struct auth *a, const struct auth_options *o, char *err, size_t errlen);
void authClose(struct auth *a);
/* Replace the shared secret (SIGHUP re-read the token file; NULL or "": none). Returns 0 or
 * RC_ENOMEM (the old one stays). */
int authSetSecret(struct auth *a, const char *secret);

/*
 * The principal of a credential (token "" when the request carries none) at now_us:
 *   - authentication off: admin ("open");
 *   - otherwise the credential's principal, or RC_EINVAL (→ UNAUTHENTICATED) with why: "no
 *     credential", "not a JWT", "signature does not verify", "exp: expired at …", …
 */
int authVerify(const struct auth *a, const char *token, int64_t now_us, struct rc_principal *p,
               char *err, size_t errlen);

#endif /* RC_NODE_AUTH_H */
