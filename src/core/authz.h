/*
 * Who may do what (docs/rest.md "Tenancy and auth", DESIGN.md §9): the one policy that the RPC
 * and the REST API enforce, for both go through the same handlers.
 *
 * A credential becomes a principal:
 *   - no authentication configured on the node: the open principal (admin);
 *   - the node's shared secret (auth_token): admin;
 *   - a bearer JWT whose signature the node verified (node/auth.c): its claims, checked here
 *     against the node's rules (exp, nbf, iss, aud, with a leeway), give the roles.
 * A client certificate's identity can be mapped the same way (authzFromClaims on a document the
 * mapping writes).
 *
 * The claims a token carries, under one claim (default "raftcron"):
 *     {"raftcron": {"namespaces": {"team-a": "editor", "team-b": "reader", "*": "reader"},
 *                   "admin": false, "worker": false}}
 * Roles are ordered, each holding the rights of the ones before it:
 *   reader    read jobs, runs, decisions, statistics and events of the namespace
 *   operator  + pause, resume, run now, backfill, cancel runs, retry dead letters
 *   editor    + create, update and delete jobs
 * "*" gives its role in every namespace. admin: everything in every namespace, and the
 * cluster's membership. worker: may hold a worker session (raftcrond --worker).
 *
 * Verdicts: ALLOW; HIDE when the principal may not even read the namespace (answered as NOT_FOUND
 * with the same words as a missing object, so that names of other tenants do not leak); DENY
 * when it may read but not do this (PERMISSION_DENIED).
 *
 * Pure: the time comes in as an argument.
 */
#ifndef RC_CORE_AUTHZ_H
#define RC_CORE_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs.h"

#define RC_AUTHZ_NS_MAX      32  /* namespaces one token may name */
#define RC_AUTHZ_SUBJECT_MAX 128 /* bytes of "sub" kept (logs) */
#define RC_AUTHZ_CLAIMS_MAX  (64 * 1024)

enum rc_role { RC_ROLE_NONE = 0, RC_ROLE_READER, RC_ROLE_OPERATOR, RC_ROLE_EDITOR };

enum rc_authz_action {
    AUTHZ_READ = 0, /* namespaced: reader */
    AUTHZ_OPERATE,  /* namespaced: operator */
    AUTHZ_EDIT,     /* namespaced: editor */
    AUTHZ_CLUSTER,  /* any authenticated principal: cluster status, digest */
    AUTHZ_ADMIN,    /* membership */
    AUTHZ_WORKER,   /* worker sessions */
    AUTHZ_OPEN,     /* no credential needed */
    AUTHZ__COUNT
};

enum rc_authz_verdict { AUTHZ_ALLOW = 0, AUTHZ_DENY, AUTHZ_HIDE };

struct rc_principal_ns {
    char ns[RC_JOBS_NAMESPACE_MAX + 1];
    enum rc_role role;
};

struct rc_principal {
    bool authenticated;
    bool admin;
    bool worker;
    enum rc_role every; /* the "*" role */
    unsigned n_ns;
    struct rc_principal_ns ns[RC_AUTHZ_NS_MAX];
    char subject[RC_AUTHZ_SUBJECT_MAX + 1]; /* "sub", "token" (shared secret) or "open" */
};

/* What a node accepts in a token's claims. Strings are borrowed. */
struct rc_authz_rules {
    const char *issuer;   /* NULL or "": iss not checked; else it must be equal */
    const char *audience; /* NULL or "": aud not checked; else aud (string or list) holds it */
    int64_t leeway_us;    /* clock skew allowed on exp and nbf */
    const char *claim;    /* the claim holding the roles (NULL: "raftcron") */
};

/* The principal of a node without authentication, and of its shared secret: admin. */
void authzAdmin(struct rc_principal *p, const char *subject);

/*
 * The principal of a verified token's claims (a JSON object, len bytes, at most
 * RC_AUTHZ_CLAIMS_MAX). now_us is the node's clock. Returns 0, or RC_EINVAL with a message
 * naming the claim that is wrong: "exp: expired at 2026-01-01T00:00:00Z", "aud: "x" is not
 * the audience", "raftcron.namespaces.team-a: "boss" is not reader, operator or editor".
 * An exp claim is required.
 */
int authzFromClaims(const char *json, size_t len, const struct rc_authz_rules *rules,
                    int64_t now_us, struct rc_principal *out, char *err, size_t errlen);

/* The role the principal holds in namespace ns ("" means "default"); admin holds editor. */
enum rc_role authzRole(const struct rc_principal *p, const char *ns);

/* The verdict for action on namespace ns (ignored by the actions that are not namespaced). */
enum rc_authz_verdict authzCheck(const struct rc_principal *p, enum rc_authz_action action,
                                 const char *ns);

/* Whether the principal may read namespace ns: what a listing across namespaces shows. */
bool authzCanRead(const struct rc_principal *p, const char *ns);

/* The action an RPC method needs ("Job.Put" → AUTHZ_EDIT), and whether the handler finds the
 * namespace it applies to (true) or the dispatcher checks it alone (false). Returns false for
 * a method not in the table: such a method is refused (admin only). */
bool authzMethod(const char *method, enum rc_authz_action *action, bool *namespaced);

/* "reader", "operator", "editor", "none". */
const char *authzRoleName(enum rc_role r);

/* Compare two secrets in time that depends on their lengths only, not on where they differ. */
bool authzSecretEqual(const char *a, const char *b);

#endif /* RC_CORE_AUTHZ_H */
