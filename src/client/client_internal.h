/*
 * Internals shared by the files of libraftcron (client.c: the client and its call loop;
 * client_api.c: the typed calls). Nothing here is exported (STYLE.md §4).
 */
#ifndef RC_CLIENT_CLIENT_INTERNAL_H
#define RC_CLIENT_CLIENT_INTERNAL_H

#include "raftcron/client.h"

/* Record a failure of the current call that happened on this side (status: enum rc_status the
 * caller will read from rc_client_status) and return code. */
int clientFail(struct rc_client *c, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* RC_CLIENT_CLIENT_INTERNAL_H */
