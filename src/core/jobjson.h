/*
 * The job object of the REST API (docs/rest.md "The job object"), both ways, through the one
 * definition vocabulary of core/jobyaml.h: the keys of a YAML job file are the keys of the JSON
 * object, with the same value syntax, the same checks and the same messages.
 *
 *   {"name": "backup", "cron": "0 3 * * *", "tz": "Europe/Berlin", "shell": "backup.sh",
 *    "retries": 2, "env": {"MODE": "full"}, "expect": [200, 204]}
 *
 * Values: a string is read as the YAML text would be; a number or a boolean as its JSON text
 * (so "retries": 2 and "retries": "2" are the same); repeatable keys take a list (expect,
 * header "K: V" strings) or, for header, target and env, an object. null is refused (a merge
 * patch removes keys before this is called). The job's state keys (jobyamlStateKey) are
 * accepted and ignored, so that an object read back can be sent again. Any other key is an
 * error naming it.
 *
 * Pure: jansson's parser and the core's checks, nothing else. Bounded: the caller limits the
 * body's size (the HTTP layer, docs/rest.md "Limits"); nesting deeper than 4 is refused.
 */
#ifndef RC_CORE_JOBJSON_H
#define RC_CORE_JOBJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "jobyaml.h"
#include "raftcron.pb-c.h"

/* A JSON string of len bytes: invalid UTF-8 becomes U+FFFD (NUL bytes are kept). New
 * reference, or NULL when memory ran out. */
json_t *jobjsonString(const void *data, size_t len);

/* The job as shown (jobyamlEmitJob), as a new object; NULL when memory ran out. */
json_t *jobjsonEncodeJob(const Raftcron__Job *job);
/* Only its definition: name, namespace and jobyamlEmitSpec's keys (a merge patch's base). */
json_t *jobjsonEncodeSpec(const Raftcron__JobSpec *spec);

/*
 * Build a definition from a JSON object. ns and name (may be NULL) are the ones the URL names:
 * the object may leave them out, and must agree with them when it has them. Returns 0, or
 * RC_EINVAL / RC_EPARSE with a message naming the key ("cron: field 2 (hour): 25 is out of
 * range 0-23", "unknown key \"cronn\""), or RC_ENOMEM. out is cleared with jobyamlDefClear.
 */
int jobjsonDecodeObject(json_t *obj, const char *ns, const char *name, struct rc_jobdef *out,
                        char *err, size_t errlen);
/* The same from text (len bytes): RC_EPARSE "body: …at line 1, column 7" when it is no JSON
 * object. */
int jobjsonDecode(const char *text, size_t len, const char *ns, const char *name,
                  struct rc_jobdef *out, char *err, size_t errlen);

/* Apply an RFC 7386 merge patch to target (both objects; target is changed in place). Returns 0
 * or RC_ENOMEM. */
int jobjsonMergePatch(json_t *target, json_t *patch);

#endif /* RC_CORE_JOBJSON_H */
