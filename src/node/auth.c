#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define KEY_FILE_MAX (1u << 20)
#define TOKEN_MAX    (16u << 10)
#define KID_MAX      128

enum key_alg { ALG_RS256 = 0, ALG_ES256 };

struct auth_key {
    char kid[KID_MAX + 1]; /* "" for the PEM file's key */
    enum key_alg alg;
    char *pem; /* owned: the public key as PEM, which libjwt reads */
    size_t pem_len;
};

static const char *algName(enum key_alg a)
{
    return a == ALG_RS256 ? "RS256" : "ES256";
}

/* ---- Files ---------------------------------------------------------------------------------- */

static int readFile(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errSet(err, errlen, RC_EIO, "%s: %s", path, strerror(errno));
    }
    char *buf = malloc(KEY_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return errSet(err, errlen, RC_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > KEY_FILE_MAX) {
        free(buf);
        return errSet(err, errlen, failed ? RC_EIO : RC_ETOOBIG, "%s: %s", path,
                      failed ? "read error" : "larger than 1 MiB");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- base64url (RFC 4648 §5, no padding) ---------------------------------------------------- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decode len characters into out (room for 3 * len / 4 + 3 bytes). -1 when not base64url. */
static long b64urlDecode(const char *in, size_t len, uint8_t *out)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6) {
        return -1; /* a lone sixth bit group: not a whole byte */
    }
    return (long)n;
}

static void b64urlEncode(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = tab[(acc >> bits) & 63];
        }
    }
    if (bits > 0) {
        out[n++] = tab[(acc << (6 - bits)) & 63];
    }
    out[n] = '\0';
}

/* ---- Public keys ---------------------------------------------------------------------------- */

/* The algorithm a public key signs with: RSA → RS256, EC on P-256 → ES256. */
static int keyAlg(EVP_PKEY *pkey, enum key_alg *alg)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *alg = ALG_RS256;
        return 0;
    }
    char group[64];
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       NULL) == 1 &&
        strcmp(group, "prime256v1") == 0) {
        *alg = ALG_ES256;
        return 0;
    }
    return RC_EINVAL;
}

static int addKey(struct auth *a, const char *kid, EVP_PKEY *pkey)
{
    enum key_alg alg;
    if (keyAlg(pkey, &alg) != 0) {
        return RC_EINVAL;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        BIO_free(bio);
        return RC_ENOMEM;
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    struct auth_key *keys = realloc(a->keys, (a->n_keys + 1) * sizeof *keys);
    char *pem = len > 0 ? strndup(data, (size_t)len) : NULL;
    BIO_free(bio);
    if (keys == NULL || pem == NULL) {
        free(pem);
        if (keys != NULL) {
            a->keys = keys;
        }
        return RC_ENOMEM;
    }
    a->keys = keys;
    struct auth_key *k = &keys[a->n_keys++];
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    k->alg = alg;
    k->pem = pem;
    k->pem_len = (size_t)len;
    return 0;
}

static int loadPem(struct auth *a, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rv = readFile(path, &text, &len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(text);
    if (pkey == NULL) {
        return errSet(err, errlen, RC_EINVAL, "%s: not a PEM public key (BEGIN PUBLIC KEY)", path);
    }
    rv = addKey(a, "", pkey);
    EVP_PKEY_free(pkey);
    if (rv == RC_EINVAL) {
        return errSet(err, errlen, rv, "%s: neither an RSA nor an EC P-256 key", path);
    }
    return rv != 0 ? errSet(err, errlen, rv, "%s: out of memory", path) : 0;
}

/* A base64url JWK member as a big number, or NULL. */
static BIGNUM *jwkNumber(json_t *jwk, const char *name)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (s == NULL || strlen(s) > 2048) {
        return NULL;
    }
    uint8_t buf[1600];
    long n = b64urlDecode(s, strlen(s), buf);
    return n > 0 ? BN_bin2bn(buf, (int)n, NULL) : NULL;
}

static EVP_PKEY *fromParams(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1) {
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
            pkey = NULL;
        }
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *jwkRsa(json_t *jwk)
{
    BIGNUM *n = jwkNumber(jwk, "n"), *e = jwkNumber(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (n != NULL && e != NULL && bld != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1) {
        pkey = fromParams("RSA", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static EVP_PKEY *jwkEc(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    if (crv == NULL || strcmp(crv, "P-256") != 0 || x == NULL || y == NULL || strlen(x) != 43 ||
        strlen(y) != 43) {
        return NULL;
    }
    uint8_t point[1 + 2 * 33];
    point[0] = 0x04; /* uncompressed (SEC 1 §2.3.3) */
    if (b64urlDecode(x, 43, point + 1) != 32 || b64urlDecode(y, 43, point + 33) != 32) {
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65) == 1) {
        pkey = fromParams("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static int loadJwk(struct auth *a, const char *path, size_t i, json_t *jwk, char *err,
                   size_t errlen)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    if (use != NULL && strcmp(use, "sig") != 0) {
        return 0; /* an encryption key: not ours to use */
    }
    if (kid == NULL || strlen(kid) > KID_MAX) {
        return errSet(err, errlen, RC_EINVAL, "%s: keys[%zu].kid: missing or longer than %d", path,
                      i, KID_MAX);
    }
    EVP_PKEY *pkey = NULL;
    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        pkey = jwkRsa(jwk);
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        pkey = jwkEc(jwk);
    } else {
        return errSet(err, errlen, RC_EINVAL, "%s: keys[%zu] (%s): kty is not RSA or EC", path, i,
                      kid);
    }
    if (pkey == NULL) {
        return errSet(err, errlen, RC_EINVAL,
                      "%s: keys[%zu] (%s): not a valid %s public key (RSA n and e, or EC P-256 x "
                      "and y)",
                      path, i, kid, kty);
    }
    int rv = addKey(a, kid, pkey);
    EVP_PKEY_free(pkey);
    return rv != 0 ? errSet(err, errlen, rv, "%s: keys[%zu]: cannot use the key", path, i) : 0;
}

static int loadJwks(struct auth *a, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rv = readFile(path, &text, &len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    json_t *keys = json_object_get(doc, "keys");
    if (doc == NULL || !json_is_array(keys)) {
        json_decref(doc);
        return errSet(err, errlen, RC_EINVAL, "%s: not a JWKS (an object with a \"keys\" list)",
                      path);
    }
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        rv = loadJwk(a, path, i, jwk, err, errlen);
        if (rv != 0) {
            break;
        }
    }
    json_decref(doc);
    return rv;
}

static int loadHmac(struct auth *a, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rv = readFile(path, &text, &len, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (len > 0 && text[len - 1] == '\n') {
        len--;
    }
    if (len < 32) {
        free(text);
        return errSet(err, errlen, RC_EINVAL,
                      "%s: an HS256 secret needs at least 32 bytes (RFC 7518 §3.2), it has %zu",
                      path, len);
    }
    a->hmac_key = (uint8_t *)text;
    a->hmac_len = len;
    return 0;
}

int authInit(struct auth *a, const struct auth_options *o, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    int rv = 0;
    if (o->secret != NULL && o->secret[0] != '\0') {
        a->secret = strdup(o->secret);
        rv = a->secret == NULL ? errSet(err, errlen, RC_ENOMEM, "out of memory") : 0;
    }
    if (rv == 0 && o->hs256_key_file != NULL && o->hs256_key_file[0] != '\0') {
        rv = loadHmac(a, o->hs256_key_file, err, errlen);
    }
    if (rv == 0 && o->public_key_file != NULL && o->public_key_file[0] != '\0') {
        rv = loadPem(a, o->public_key_file, err, errlen);
    }
    if (rv == 0 && o->jwks_file != NULL && o->jwks_file[0] != '\0') {
        rv = loadJwks(a, o->jwks_file, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    snprintf(a->issuer, sizeof a->issuer, "%s", o->issuer != NULL ? o->issuer : "");
    snprintf(a->audience, sizeof a->audience, "%s", o->audience != NULL ? o->audience : "");
    snprintf(a->claim, sizeof a->claim, "%s", o->claim != NULL ? o->claim : "");
    a->rules = (struct rc_authz_rules){
        .issuer = a->issuer, .audience = a->audience, .leeway_us = o->leeway_us, .claim = a->claim};
    a->enabled = a->secret != NULL || a->hmac_key != NULL || a->n_keys > 0;
    return 0;
}

int authSetSecret(struct auth *a, const char *secret)
{
    char *copy = NULL;
    if (secret != NULL && secret[0] != '\0' && (copy = strdup(secret)) == NULL) {
        return RC_ENOMEM;
    }
    if (a->secret != NULL) {
        OPENSSL_cleanse(a->secret, strlen(a->secret));
        free(a->secret);
    }
    a->secret = copy;
    a->enabled = a->secret != NULL || a->hmac_key != NULL || a->n_keys > 0;
    return 0;
}

void authClose(struct auth *a)
{
    if (a->secret != NULL) {
        OPENSSL_cleanse(a->secret, strlen(a->secret));
        free(a->secret);
    }
    if (a->hmac_key != NULL) {
        OPENSSL_cleanse(a->hmac_key, a->hmac_len);
        free(a->hmac_key);
    }
    for (size_t i = 0; i < a->n_keys; i++) {
        free(a->keys[i].pem);
    }
    free(a->keys);
    memset(a, 0, sizeof *a);
}

/* ---- Verifying ------------------------------------------------------------------------------ */

/* The token's header, decoded: its alg and kid. */
static int readHeader(const char *token, size_t head_len, char *alg, char *kid, char *err,
                      size_t errlen)
{
    uint8_t buf[1024];
    if (head_len > 1300) {
        return errSet(err, errlen, RC_EINVAL, "token: header too long");
    }
    long n = b64urlDecode(token, head_len, buf);
    json_error_t jerr;
    json_t *h =
        n > 0 ? json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const char *a = json_string_value(json_object_get(h, "alg"));
    const char *k = json_string_value(json_object_get(h, "kid"));
    int rv = 0;
    if (a == NULL) {
        rv = errSet(err, errlen, RC_EINVAL, "token: not a JWT (no header alg)");
    } else {
        snprintf(alg, 16, "%s", a);
        snprintf(kid, KID_MAX + 1, "%s", k != NULL ? k : "");
    }
    json_decref(h);
    return rv;
}

/* HS256 (RFC 7518 §3.2), the MAC compared in constant time. */
static int checkHmac(const struct auth *a, const char *token, size_t signed_len, const char *sig,
                     char *err, size_t errlen)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    if (HMAC(EVP_sha256(), a->hmac_key, (int)a->hmac_len, (const uint8_t *)token, signed_len, mac,
             &mac_len) == NULL) {
        return errSet(err, errlen, RC_EINVAL, "token: cannot compute HS256");
    }
    char want[2 * EVP_MAX_MD_SIZE];
    b64urlEncode(mac, mac_len, want);
    if (strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) != 0) {
        return errSet(err, errlen, RC_EINVAL, "token: signature does not verify");
    }
    return 0;
}

static const struct auth_key *findKey(const struct auth *a, const char *alg, const char *kid)
{
    for (size_t i = 0; i < a->n_keys; i++) {
        const struct auth_key *k = &a->keys[i];
        if (strcmp(algName(k->alg), alg) == 0 && (k->kid[0] == '\0' || strcmp(k->kid, kid) == 0)) {
            return k;
        }
    }
    return NULL;
}

/* Which key checks the token: its alg must be one the node has a key for. */
static int pickKey(const struct auth *a, const char *token, const char *alg, const char *kid,
                   const uint8_t **key, size_t *key_len, char *err, size_t errlen)
{
    const char *dot2 = strrchr(token, '.');
    if (strcmp(alg, "HS256") == 0 && a->hmac_key != NULL) {
        int rv = checkHmac(a, token, (size_t)(dot2 - token), dot2 + 1, err, errlen);
        *key = a->hmac_key;
        *key_len = a->hmac_len;
        return rv;
    }
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0) {
        const struct auth_key *k = findKey(a, alg, kid);
        if (k != NULL) {
            *key = (const uint8_t *)k->pem;
            *key_len = k->pem_len;
            return 0;
        }
        if (kid[0] != '\0') {
            return errSet(err, errlen, RC_EINVAL, "token: no %s key with kid \"%.64s\"", alg, kid);
        }
    }
    return errSet(err, errlen, RC_EINVAL, "token: alg \"%.16s\" is not accepted by this node", alg);
}

static int verifyJwt(const struct auth *a, const char *token, int64_t now_us,
                     struct rc_principal *p, char *err, size_t errlen)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        return errSet(err, errlen, RC_EINVAL, "token: not the shared secret and not a JWT");
    }
    char alg[16], kid[KID_MAX + 1];
    int rv = readHeader(token, (size_t)(dot1 - token), alg, kid, err, errlen);
    const uint8_t *key = NULL;
    size_t key_len = 0;
    if (rv == 0) {
        rv = pickKey(a, token, alg, kid, &key, &key_len, err, errlen);
    }
    if (rv != 0) {
        return rv;
    }
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || jwt == NULL) {
        return errSet(err, errlen, RC_EINVAL, "token: signature does not verify");
    }
    if (strcmp(jwt_alg_str(jwt_get_alg(jwt)), alg) != 0) {
        jwt_free(jwt);
        return errSet(err, errlen, RC_EINVAL, "token: alg changed while checking");
    }
    char *claims = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    if (claims == NULL) {
        return errSet(err, errlen, RC_EINVAL, "token: no claims");
    }
    char why[RC_ERRMSG_SIZE];
    rv = authzFromClaims(claims, strlen(claims), &a->rules, now_us, p, why, sizeof why);
    free(claims);
    if (rv != 0) {
        return errSet(err, errlen, RC_EINVAL, "token: %s", why);
    }
    return 0;
}

int authVerify(const struct auth *a, const char *token, int64_t now_us, struct rc_principal *p,
               char *err, size_t errlen)
{
    if (!a->enabled) {
        authzAdmin(p, "open");
        return 0;
    }
    memset(p, 0, sizeof *p);
    if (token == NULL || token[0] == '\0') {
        return errSet(err, errlen, RC_EINVAL, "no credential (a bearer token is required)");
    }
    if (strlen(token) > TOKEN_MAX) {
        return errSet(err, errlen, RC_EINVAL, "token: longer than %u bytes", TOKEN_MAX);
    }
    if (a->secret != NULL && authzSecretEqual(token, a->secret)) {
        authzAdmin(p, "token");
        return 0;
    }
    if (a->hmac_key == NULL && a->n_keys == 0) {
        return errSet(err, errlen, RC_EINVAL, "wrong credential");
    }
    return verifyJwt(a, token, now_us, p, err, errlen);
}
