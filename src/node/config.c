#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* The file is read whole: the parser needs it all, and RC_CONF_FILE_MAX bounds it. */
static int readFile(void *data, const char *path, char **text, size_t *len, char *err,
                    size_t errlen)
{
    (void)data;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errSet(err, errlen, RC_EIO, "%s: %s", path, strerror(errno));
    }
    int rv = 0;
    char *buf = malloc(RC_CONF_FILE_MAX + 2);
    if (buf == NULL) {
        rv = errSet(err, errlen, RC_ENOMEM, "%s: out of memory", path);
        goto err_after_open;
    }
    size_t n = fread(buf, 1, RC_CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        rv = errSet(err, errlen, RC_EIO, "%s: %s", path, strerror(errno));
        goto err_after_alloc;
    }
    if (n > RC_CONF_FILE_MAX) {
        rv = errSet(err, errlen, RC_ETOOBIG, "%s: larger than %d bytes", path, RC_CONF_FILE_MAX);
        goto err_after_alloc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    fclose(f);
    return 0;

err_after_alloc:
    free(buf);
err_after_open:
    fclose(f);
    return rv;
}

static int makeDevDir(struct rc_config *cfg, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    tmp = tmp != NULL && *tmp != '\0' ? tmp : "/tmp";
    int n = snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s/raftcrond-dev-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof cfg->data_dir) {
        return errSet(err, errlen, RC_EINVAL, "--dev: TMPDIR %s is too long", tmp);
    }
    if (mkdtemp(cfg->data_dir) == NULL) {
        int e = errno;
        cfg->data_dir[0] = '\0';
        return errSet(err, errlen, RC_EIO, "--dev: cannot create a data dir in %s: %s", tmp,
                      strerror(e));
    }
    return 0;
}

int configLoad(struct rc_config *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
               size_t errlen)
{
    const struct confparse_reader reader = {NULL, readFile};
    int rv = confparseArgs(cfg, argc, argv, envp, &reader, err, errlen);
    if (rv == CONFPARSE_HELP) {
        size_t n = confparseHelp(NULL, 0);
        char *text = malloc(n + 1);
        if (text == NULL) {
            return errSet(err, errlen, RC_ENOMEM, "out of memory");
        }
        confparseHelp(text, n + 1);
        fputs(text, out);
        free(text);
        return rv;
    }
    if (rv == CONFPARSE_VERSION) {
        fprintf(out, "%s\n", confparseVersion());
        return rv;
    }
    if (rv == 0 && cfg->dev_data_dir) {
        rv = makeDevDir(cfg, err, errlen);
    }
    return rv;
}

static int removeEntry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

int configRemoveDevDir(struct rc_config *cfg, char *err, size_t errlen)
{
    if (!cfg->dev_data_dir || cfg->data_dir[0] == '\0') {
        return 0;
    }
    int e = nftw(cfg->data_dir, removeEntry, 16, FTW_DEPTH | FTW_PHYS);
    if (e != 0) {
        return errSet(err, errlen, RC_EIO, "cannot remove %s: %s", cfg->data_dir,
                      strerror(e > 0 ? e : errno));
    }
    cfg->data_dir[0] = '\0';
    return 0;
}
