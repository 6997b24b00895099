#include "execs.h"

#include <string.h>

#include "core/err.h"

static void closed(struct exec_backend *b)
{
    (void)b; /* the loop runs until the backend's handles are closed */
}

int execsOpen(struct execs *e, uv_loop_t *loop, const struct execs_config *c,
              struct worker_execs *out)
{
    memset(e, 0, sizeof *e);
    int rv = shellInit(&e->shell, loop);
    if (rv != 0) {
        goto err;
    }
    rv = noopInit(&e->noop, loop);
    if (rv != 0) {
        goto err_after_shell;
    }
    struct http_options ho = {.ca_file = c->http_ca_file};
    rv = httpInit(&e->http, loop, &ho);
    if (rv != 0) {
        goto err_after_noop;
    }
    struct sql_conn_def defs[RC_CONF_CONNS_MAX];
    unsigned n = c->n_conns < RC_CONF_CONNS_MAX ? c->n_conns : RC_CONF_CONNS_MAX;
    for (unsigned i = 0; i < n; i++) {
        defs[i] = (struct sql_conn_def){
            c->conns[i].name, c->conns[i].dsn,
            c->conns[i].password_file[0] != '\0' ? c->conns[i].password_file : NULL};
    }
    struct sql_options so = {.conns = defs, .n_conns = n, .pool_size = c->sql_pool_size};
    rv = sqlInit(&e->sql, loop, &so);
    if (rv != 0) {
        goto err_after_http;
    }
    e->open = 4;
    execSetSecurity(&e->shell, c->security);
    execSetSecurity(&e->noop, c->security);
    execSetSecurity(&e->http, c->security);
    execSetSecurity(&e->sql, c->security);
    *out = (struct worker_execs){
        .shell = &e->shell, .noop = &e->noop, .http = &e->http, .sql = &e->sql};
    return 0;

err_after_http:
    execClose(&e->http, closed);
err_after_noop:
    execClose(&e->noop, closed);
err_after_shell:
    execClose(&e->shell, closed);
err:
    return rv;
}

void execsClose(struct execs *e)
{
    if (e->open == 0) {
        return;
    }
    e->open = 0;
    execClose(&e->shell, closed);
    execClose(&e->noop, closed);
    execClose(&e->http, closed);
    execClose(&e->sql, closed);
}
