/*
 * raftcrond's configuration as the daemon loads it: src/core/confparse.h does the parsing and
 * merging (flag > env > file > default, docs/configuration.md); this adds what touches the
 * system — reading the --config file, printing --help/--version, and --dev's temporary data
 * directory.
 */
#ifndef RC_NODE_CONFIG_H
#define RC_NODE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/confparse.h"

/*
 * Load cfg from argv/envp (as main receives them). Returns:
 *   0                  cfg is complete and checked; with --dev and no --data, cfg->data_dir is
 *                      a new empty directory under $TMPDIR (or /tmp) and cfg->dev_data_dir is
 *                      set: call configRemoveDevDir at exit;
 *   CONFPARSE_HELP,
 *   CONFPARSE_VERSION  the text was written to out: exit with status 0;
 *   an RC_E* code      with the message in err: print it and exit with status 2.
 */
int configLoad(struct rc_config *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
               size_t errlen);

/* Delete the temporary data directory configLoad made for --dev, with its contents. No-op
 * (0) for any other data directory. Returns 0 or RC_EIO with a message. */
int configRemoveDevDir(struct rc_config *cfg, char *err, size_t errlen);

#endif /* RC_NODE_CONFIG_H */
