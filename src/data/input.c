/*
 * input.c -- getting a file's bytes: plain files are memory-mapped (no copy;
 * the parser reads the page cache directly), gzip files (detected by their
 * magic bytes, whatever the name) are inflated into memory through zlib,
 * which also handles multi-member streams. Also the format dispatch of
 * cairn_read_path.
 */
#include "data/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static cairn_status inflate_gz(const char *path, cairn_input *in, size_t hint, cairn_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return cairn_error_errno(err, errno ? errno : EIO, path, "cannot open gzip file");
    gzbuffer(gz, 1u << 17);
    size_t cap = hint < (1u << 20) ? (1u << 20) : hint * 4, len = 0;
    char *buf = cairn_malloc(cap);
    cairn_status st = CAIRN_OK;
    if (!buf) {
        st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory inflating gzip file");
        goto done;
    }
    for (;;) {
        if (cap - len < (1u << 20)) {
            if (cap > SIZE_MAX / 2) {
                st = cairn_error_set(err, CAIRN_ETOOBIG, path, "inflated file too large");
                goto done;
            }
            char *p = cairn_realloc(buf, cap * 2);
            if (!p) {
                st = cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory inflating gzip file");
                goto done;
            }
            buf = p;
            cap *= 2;
        }
        size_t want = cap - len - 1;
        if (want > (1u << 30))
            want = 1u << 30;
        int r = gzread(gz, buf + len, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            st = cairn_error_set(err, CAIRN_EINPUT, path, "corrupt gzip data: %s", msg);
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    {
        int zerr = Z_OK;
        const char *msg = gzerror(gz, &zerr);
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            st = cairn_error_set(err, CAIRN_EINPUT, path, "corrupt or truncated gzip data: %s",
                                 msg);
            goto done;
        }
    }
    buf[len] = '\0';
    in->data = buf;
    in->len = len;
    in->owned = buf;
    in->mapped = 0;
    buf = NULL;
done:
    cairn_free(buf);
    gzclose(gz);
    return st;
}

cairn_status cairn_input_open(const char *path, cairn_input *in, cairn_error *err)
{
    memset(in, 0, sizeof *in);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* An input the user named that cannot be read is bad input (exit 3), not an I/O fault. */
        int e = errno;
        if (e == EACCES || e == EPERM || e == EISDIR || e == ELOOP || e == ENAMETOOLONG)
            return cairn_error_set(err, CAIRN_EINPUT, path, "cannot open input file: %s",
                                   strerror(e));
        return cairn_error_errno(err, e, path, "cannot open input file");
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cairn_error_errno(err, e, path, "cannot stat input file");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cairn_error_set(err, CAIRN_EINPUT, path, "not a regular file (a directory?)");
    }
    unsigned char magic[2] = {0, 0};
    ssize_t got = pread(fd, magic, 2, 0);
    if (got < 0) {
        int e = errno;
        close(fd);
        return cairn_error_errno(err, e, path, "cannot read input file");
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        close(fd);
        return inflate_gz(path, in, (size_t)st.st_size, err);
    }
    if (st.st_size == 0) {
        close(fd);
        in->data = "";
        in->len = 0;
        return CAIRN_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return cairn_error_errno(err, e, path, "cannot map input file");
    madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
    in->data = p;
    in->len = (size_t)st.st_size;
    in->owned = p;
    in->owned_len = (size_t)st.st_size;
    in->mapped = 1;
    return CAIRN_OK;
}

void cairn_input_close(cairn_input *in)
{
    if (in->owned) {
        if (in->mapped)
            munmap(in->owned, in->owned_len);
        else
            cairn_free(in->owned);
    }
    memset(in, 0, sizeof *in);
}

/*
 * ISO-8859-1 maps each byte to the code point of the same number, so bytes
 * below 0x80 stay and the others become two UTF-8 bytes.
 */
static cairn_status latin1_to_utf8(cairn_input *in, const char *path, cairn_error *err)
{
    size_t extra = 0;
    for (size_t i = 0; i < in->len; i++)
        extra += (unsigned char)in->data[i] >= 0x80;
    if (extra == 0)
        return CAIRN_OK;
    size_t n;
    if (__builtin_add_overflow(in->len, extra, &n) || n == SIZE_MAX)
        return cairn_error_set(err, CAIRN_ETOOBIG, path, "input too large to convert");
    char *out = cairn_malloc(n + 1);
    if (!out)
        return cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory converting from Latin-1");
    size_t o = 0;
    for (size_t i = 0; i < in->len; i++) {
        unsigned char c = (unsigned char)in->data[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
    cairn_input_close(in);
    in->data = out;
    in->len = o;
    in->owned = out;
    in->mapped = 0;
    return CAIRN_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

cairn_status cairn_read_path(const char *path, cairn_format fmt, const cairn_reader_cfg *cfg,
                             cairn_frame **out, cairn_error *err)
{
    *out = NULL;
    if (fmt == CAIRN_FORMAT_AUTO) {
        bool jl = ends_with(path, ".jsonl") || ends_with(path, ".ndjson") ||
                  ends_with(path, ".jsonl.gz") || ends_with(path, ".ndjson.gz");
        fmt = jl ? CAIRN_FORMAT_JSONL : CAIRN_FORMAT_CSV;
    }
    cairn_reader_cfg local = *cfg;
    if (!local.display_name)
        local.display_name = path;
    cairn_input in;
    cairn_status st = cairn_input_open(path, &in, err);
    if (st != CAIRN_OK)
        return st;
    if (local.latin1 && (st = latin1_to_utf8(&in, path, err)) != CAIRN_OK) {
        cairn_input_close(&in);
        return st;
    }
    local.release_input = in.mapped != 0;
    if (fmt == CAIRN_FORMAT_JSONL)
        st = cairn_jsonl_parse(in.data, in.len, &local, out, err);
    else
        st = cairn_csv_parse(in.data, in.len, &local, out, err);
    cairn_input_close(&in);
    return st;
}
