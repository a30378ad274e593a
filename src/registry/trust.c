/*
 * trust.c -- Ed25519 key files, the signatures a home knows for its
 * artifacts, the keys it trusts, and the policy that decides whether an
 * artifact may be loaded (artifact.h, "keys, signatures and trust").
 *
 * Signatures are detached: they sign the artifact's 32-byte BLAKE2b hash and
 * live beside the artifact (the signatures table; an exported FILE.sig), so
 * signing never changes the artifact's bytes or its identity.
 */
#include "registry/artifact.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_TAG "cairn-ed25519-secret "
#define PUBLIC_TAG "cairn-ed25519-public "

void cairn_hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool cairn_hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* ---- key files ------------------------------------------------------------------------ */

static cairn_status write_new_file(const char *path, const char *text, mode_t mode,
                                   cairn_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return cairn_error_set(err, CAIRN_EINVAL, path,
                                   "%s already exists; keys are never overwritten", path);
        return cairn_error_errno(err, errno, path, "cannot create the key file");
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cairn_status st = cairn_error_errno(err, errno, path, "cannot write the key file");
            close(fd);
            unlink(path);
            return st;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        cairn_status st = cairn_error_errno(err, errno, path, "cannot write the key file");
        unlink(path);
        return st;
    }
    return CAIRN_OK;
}

cairn_status cairn_key_generate(const char *prefix, char *pk_hex, cairn_error *err)
{
    unsigned char pk[CAIRN_ARTIFACT_PK_BYTES], sk[CAIRN_ARTIFACT_SK_BYTES];
    char sk_path[4096], pk_path[4096];
    char line[sizeof SECRET_TAG + 2 * CAIRN_ARTIFACT_SK_BYTES + 2];
    cairn_status st;
    if (snprintf(sk_path, sizeof sk_path, "%s.key", prefix) >= (int)sizeof sk_path ||
        snprintf(pk_path, sizeof pk_path, "%s.pub", prefix) >= (int)sizeof pk_path)
        return cairn_error_set(err, CAIRN_EINVAL, prefix, "key path too long");
    if (access(sk_path, F_OK) == 0 || access(pk_path, F_OK) == 0)
        return cairn_error_set(err, CAIRN_EINVAL, access(sk_path, F_OK) == 0 ? sk_path : pk_path,
                               "a key file already exists; keys are never overwritten");
    if ((st = cairn_artifact_keygen(pk, sk, err)) != CAIRN_OK)
        return st;
    char hex[2 * CAIRN_ARTIFACT_SK_BYTES + 1];
    cairn_hex_encode(sk, sizeof sk, hex);
    snprintf(line, sizeof line, SECRET_TAG "%s\n", hex);
    sodium_memzero(sk, sizeof sk);
    st = write_new_file(sk_path, line, 0600, err);
    sodium_memzero(line, sizeof line);
    sodium_memzero(hex, sizeof hex);
    if (st != CAIRN_OK)
        return st;
    cairn_hex_encode(pk, sizeof pk, hex);
    snprintf(line, sizeof line, PUBLIC_TAG "%s\n", hex);
    if ((st = write_new_file(pk_path, line, 0644, err)) != CAIRN_OK) {
        unlink(sk_path);
        return st;
    }
    if (pk_hex)
        memcpy(pk_hex, hex, 2 * CAIRN_ARTIFACT_PK_BYTES + 1);
    return CAIRN_OK;
}

cairn_status cairn_key_parse(const char *text, size_t len, bool secret, unsigned char *out,
                             const char *name, cairn_error *err)
{
    const char *tag = secret ? SECRET_TAG : PUBLIC_TAG;
    size_t n = secret ? CAIRN_ARTIFACT_SK_BYTES : CAIRN_ARTIFACT_PK_BYTES;
    size_t tl = strlen(tag);
    char hex[2 * CAIRN_ARTIFACT_SK_BYTES + 1];
    /* One line: the tag, 2n hex digits, an optional newline. */
    if (len > tl && text[len - 1] == '\n')
        len--;
    bool ok = len == tl + 2 * n && memcmp(text, tag, tl) == 0;
    if (ok) {
        memcpy(hex, text + tl, 2 * n);
        hex[2 * n] = '\0';
        ok = cairn_hex_decode(hex, out, n);
        sodium_memzero(hex, sizeof hex);
    }
    if (!ok)
        return cairn_error_set(err, CAIRN_EINPUT, name ? name : "key",
                               "not a cairn %s key file (expected '%s<%zu hex digits>')",
                               secret ? "secret" : "public", tag, 2 * n);
    return CAIRN_OK;
}

static cairn_status read_key(const char *path, bool secret, unsigned char *out, cairn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    cairn_status st = cairn_read_file(path, &text, &len, err);
    if (st != CAIRN_OK)
        return st;
    st = cairn_key_parse(text, len, secret, out, path, err);
    sodium_memzero(text, len);
    cairn_free(text);
    return st;
}

cairn_status cairn_key_read_secret(const char *path, unsigned char sk[CAIRN_ARTIFACT_SK_BYTES],
                                   cairn_error *err)
{
    return read_key(path, true, sk, err);
}

cairn_status cairn_key_read_public(const char *path, unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                                   cairn_error *err)
{
    return read_key(path, false, pk, err);
}

/* ---- the home's tables ------------------------------------------------------------------ */

cairn_status cairn_trust_add(cairn_home *h, const unsigned char pk[CAIRN_ARTIFACT_PK_BYTES],
                             const char *name, cairn_error *err)
{
    char hex[2 * CAIRN_ARTIFACT_PK_BYTES + 1], now[32];
    sqlite3_stmt *s = NULL;
    cairn_hex_encode(pk, CAIRN_ARTIFACT_PK_BYTES, hex);
    cairn_now_iso(now, sizeof now);
    int rc = sqlite3_prepare_v2(h->db,
                                "INSERT INTO trusted_keys(public_key, name, added_at) VALUES (?1, ?2, ?3)"
                                " ON CONFLICT(public_key) DO UPDATE SET name = excluded.name",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = name ? sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 2);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 3, now, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return cairn_home_sql_error(h->db, rc, h->db_path, "cannot add the trusted key", err);
    return CAIRN_OK;
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

cairn_status cairn_trust_list(cairn_home *h, cairn_trusted_key **out, size_t *n,
                              cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_trusted_key *items = NULL;
    size_t count = 0, cap = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT public_key, name, added_at FROM trusted_keys ORDER BY public_key",
                                -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 8;
            cairn_trusted_key *p = cairn_realloc(items, nc * sizeof *p);
            if (!p) {
                st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory");
                goto done;
            }
            items = p;
            cap = nc;
        }
        cairn_trusted_key *k = &items[count++];
        copy_col(k->pk_hex, sizeof k->pk_hex, s, 0);
        copy_col(k->name, sizeof k->name, s, 1);
        copy_col(k->added_at, sizeof k->added_at, s, 2);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read the trusted keys", err);
done:
    sqlite3_finalize(s);
    if (st != CAIRN_OK) {
        cairn_free(items);
        return st;
    }
    *out = items;
    *n = count;
    return CAIRN_OK;
}

cairn_status cairn_signature_add(cairn_home *h, const char *hash_hex, const cairn_signature *sg,
                                 cairn_error *err)
{
    unsigned char hash[CAIRN_HASH_BYTES];
    char pk_hex[2 * CAIRN_ARTIFACT_PK_BYTES + 1], sig_hex[2 * CAIRN_ARTIFACT_SIG_BYTES + 1], now[32];
    if (!cairn_hex_decode(hash_hex, hash, sizeof hash))
        return cairn_error_set(err, CAIRN_EINVAL, hash_hex ? hash_hex : "", "not an artifact hash");
    if (!cairn_artifact_verify(hash, sg->sig, sg->pk))
        return cairn_error_set(err, CAIRN_ECHECK, hash_hex,
                               "the signature does not verify for this artifact");
    cairn_hex_encode(sg->pk, sizeof sg->pk, pk_hex);
    cairn_hex_encode(sg->sig, sizeof sg->sig, sig_hex);
    cairn_now_iso(now, sizeof now);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(h->db,
                                "INSERT OR REPLACE INTO signatures(artifact_hash, public_key, "
                                "signature, created_at) VALUES (?1, ?2, ?3, ?4)",
                                -1, &s, NULL);
    const char *vals[] = {hash_hex, pk_hex, sig_hex, now};
    for (int i = 0; i < 4 && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_text(s, i + 1, vals[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    if (rc != SQLITE_OK)
        return cairn_home_sql_error(h->db, rc, h->db_path, "cannot record the signature", err);
    return CAIRN_OK;
}

cairn_status cairn_signature_list(cairn_home *h, const char *hash_hex, cairn_signature **out,
                                  size_t *n, cairn_error *err)
{
    sqlite3_stmt *s = NULL;
    cairn_signature *items = NULL;
    size_t count = 0, cap = 0;
    cairn_status st = CAIRN_OK;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(h->db,
                                "SELECT public_key, signature FROM signatures WHERE artifact_hash = ?1"
                                " ORDER BY public_key",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 1, hash_hex, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (count == cap) {
            size_t nc = cap ? 2 * cap : 4;
            cairn_signature *p = cairn_realloc(items, nc * sizeof *p);
            if (!p) {
                st = cairn_error_set(err, CAIRN_ENOMEM, h->db_path, "out of memory");
                goto done;
            }
            items = p;
            cap = nc;
        }
        cairn_signature *g = &items[count];
        /* A row that does not decode is kept as all-zero bytes: it then fails to
         * verify, and the policy reports it as a wrong signature. */
        if (!cairn_hex_decode((const char *)sqlite3_column_text(s, 0), g->pk, sizeof g->pk) ||
            !cairn_hex_decode((const char *)sqlite3_column_text(s, 1), g->sig, sizeof g->sig))
            memset(g, 0, sizeof *g);
        count++;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        st = cairn_home_sql_error(h->db, rc, h->db_path, "cannot read signatures", err);
done:
    sqlite3_finalize(s);
    if (st != CAIRN_OK) {
        cairn_free(items);
        return st;
    }
    *out = items;
    *n = count;
    return CAIRN_OK;
}

/* ---- the policy ---------------------------------------------------------------------------- */

cairn_status cairn_trust_check(cairn_home *h, const unsigned char hash[CAIRN_HASH_BYTES],
                               const char *hash_hex, const cairn_signature *extra,
                               size_t n_extra, size_t *n_valid, cairn_error *err)
{
    cairn_signature *sigs = NULL;
    cairn_trusted_key *keys = NULL;
    size_t n_sigs = 0, n_keys = 0, valid = 0;
    bool trusted = false;
    cairn_status st;
    if ((st = cairn_signature_list(h, hash_hex, &sigs, &n_sigs, err)) != CAIRN_OK ||
        (st = cairn_trust_list(h, &keys, &n_keys, err)) != CAIRN_OK)
        goto done;
    for (size_t i = 0; i < n_sigs + n_extra; i++) {
        const cairn_signature *g = i < n_sigs ? &sigs[i] : &extra[i - n_sigs];
        char pk_hex[2 * CAIRN_ARTIFACT_PK_BYTES + 1];
        cairn_hex_encode(g->pk, sizeof g->pk, pk_hex);
        if (!cairn_artifact_verify(hash, g->sig, g->pk)) {
            st = cairn_error_set(err, CAIRN_ECHECK, hash_hex,
                                 "artifact %.16s is wrongly signed: the signature by key %.16s "
                                 "does not match its content",
                                 hash_hex, pk_hex);
            goto done;
        }
        valid++;
        for (size_t k = 0; k < n_keys; k++)
            if (strcmp(keys[k].pk_hex, pk_hex) == 0)
                trusted = true;
    }
    if (n_keys > 0 && !trusted) {
        st = cairn_error_set(err, CAIRN_ECHECK, hash_hex,
                             "artifact %.16s is %s: this home trusts %zu key%s and requires a "
                             "signature by one of them (cairn sign)",
                             hash_hex, valid ? "not signed by a trusted key" : "unsigned", n_keys,
                             n_keys == 1 ? "" : "s");
        goto done;
    }
    if (n_valid)
        *n_valid = valid;
done:
    cairn_free(sigs);
    cairn_free(keys);
    return st;
}

cairn_status cairn_home_artifact_load(cairn_home *h, const char *hash_hex, cairn_artifact **out,
                                      cairn_error *err)
{
    char *bytes = NULL;
    size_t len = 0;
    cairn_artifact *a = NULL;
    *out = NULL;
    cairn_status st = cairn_home_object_get(h, hash_hex, ".art", &bytes, &len, err);
    if (st != CAIRN_OK)
        return st;
    st = cairn_artifact_load(bytes, len, &a, err);
    cairn_free(bytes);
    if (st != CAIRN_OK)
        return st;
    if ((st = cairn_trust_check(h, a->hash, a->hash_hex, NULL, 0, NULL, err)) != CAIRN_OK) {
        cairn_artifact_free(a);
        return st;
    }
    *out = a;
    return CAIRN_OK;
}

/* ---- signature files ------------------------------------------------------------------------ */

cairn_status cairn_sigfile_parse(const char *text, size_t len, const char *name,
                                 const char *hash_hex, cairn_signature **out, size_t *n,
                                 cairn_error *err)
{
    cairn_status st = CAIRN_OK;
    *out = NULL;
    *n = 0;
    if (!name)
        name = "signature file";
    cJSON *doc = cJSON_ParseWithLength(text, len);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "signatures");
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(doc, "artifact");
    int m = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
    if (!cJSON_IsObject(doc) || m < 0) {
        st = cairn_error_set(err, CAIRN_EINPUT, name,
                             "not a signature file (expected {\"signatures\":[...]})");
        goto done;
    }
    if (m > CAIRN_SIGFILE_MAX) {
        st = cairn_error_set(err, CAIRN_EINPUT, name, "more than %d signatures",
                             CAIRN_SIGFILE_MAX);
        goto done;
    }
    if (art && (!cJSON_IsString(art) || (hash_hex && strcmp(art->valuestring, hash_hex) != 0))) {
        st = cairn_error_set(err, CAIRN_EINPUT, name,
                             "the signature file is for another artifact (%.16s...)",
                             cJSON_IsString(art) ? art->valuestring : "?");
        goto done;
    }
    *out = cairn_calloc((size_t)m + 1, sizeof **out);
    if (!*out) {
        st = cairn_error_set(err, CAIRN_ENOMEM, name, "out of memory");
        goto done;
    }
    for (int i = 0; i < m; i++) {
        const cJSON *it = cJSON_GetArrayItem(list, i);
        const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "public_key"));
        const char *sg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "signature"));
        if (!cairn_hex_decode(pk, (*out)[i].pk, CAIRN_ARTIFACT_PK_BYTES) ||
            !cairn_hex_decode(sg, (*out)[i].sig, CAIRN_ARTIFACT_SIG_BYTES)) {
            st = cairn_error_set(err, CAIRN_EINPUT, name,
                                 "signature %d: public_key must be 64 and signature 128 hex digits",
                                 i);
            goto done;
        }
    }
    *n = (size_t)m;
done:
    if (st != CAIRN_OK) {
        cairn_free(*out);
        *out = NULL;
    }
    cJSON_Delete(doc);
    return st;
}

void cairn_sigfile_format(const char *hash_hex, const cairn_signature *sigs, size_t n,
                          cairn_buf *b)
{
    cairn_buf_puts(b, "{\"artifact\":\"");
    cairn_buf_puts(b, hash_hex);
    cairn_buf_puts(b, "\",\"signatures\":[");
    for (size_t i = 0; i < n; i++) {
        char pk[2 * CAIRN_ARTIFACT_PK_BYTES + 1], sg[2 * CAIRN_ARTIFACT_SIG_BYTES + 1];
        cairn_hex_encode(sigs[i].pk, sizeof sigs[i].pk, pk);
        cairn_hex_encode(sigs[i].sig, sizeof sigs[i].sig, sg);
        cairn_buf_printf(b, "%s{\"public_key\":\"%s\",\"signature\":\"%s\"}", i ? "," : "",
                         pk, sg);
    }
    cairn_buf_puts(b, "]}\n");
}
