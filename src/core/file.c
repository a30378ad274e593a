/*
 * file.c -- durable file writes (temporary file, fsync, rename, directory
 * fsync, as Redis writes its RDB) and whole-file reads.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void dir_of(const char *path, char *out, size_t cap)
{
    size_t n = strlen(path);
    if (n >= cap)
        n = cap - 1;   /* callers check lengths first */
    memcpy(out, path, n);
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
}

cairn_status cairn_fsync_dir(const char *dir, cairn_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cairn_error_errno(err, errno, dir, "cannot open directory");
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL)
        return cairn_error_errno(err, e, dir, "cannot fsync directory");
    return CAIRN_OK;
}

cairn_status cairn_mkdirs(const char *dir, cairn_error *err)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return cairn_error_set(err, CAIRN_EINVAL, dir, "invalid directory path");
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char save = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return cairn_error_errno(err, errno, tmp, "cannot create directory");
            tmp[i] = save;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cairn_error_set(err, CAIRN_EIO, dir, "not a directory");
    return CAIRN_OK;
}

cairn_status cairn_atomic_open(cairn_atomic_file *f, const char *final_path, cairn_error *err)
{
    char dir[4000];
    f->fd = -1;
    f->direct = false;
    f->tmp_path[0] = '\0';
    if (strlen(final_path) >= sizeof dir - 32)
        return cairn_error_set(err, CAIRN_EINVAL, final_path, "path too long");
    /* Follow symbolic links (also to a target not there yet): the rename replaces the
     * last one's target, not the link. */
    char path[4000], link[4000];
    struct stat st;
    snprintf(path, sizeof path, "%s", final_path);
    for (int hops = 0; lstat(path, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
        ssize_t n = hops < 40 ? readlink(path, link, sizeof link - 1) : -1;
        if (n < 0)
            return cairn_error_errno(err, hops < 40 ? errno : ELOOP, final_path,
                                     "cannot follow the link");
        link[n] = '\0';
        if (link[0] != '/') {
            dir_of(path, dir, sizeof dir);
            size_t dn = strlen(dir);
            if (dn + 1 + (size_t)n >= sizeof path - 32)
                return cairn_error_set(err, CAIRN_EINVAL, final_path, "path too long");
            memcpy(path, dir, dn);
            path[dn] = '/';
            memcpy(path + dn + 1, link, (size_t)n + 1);
        } else {
            if ((size_t)n >= sizeof path - 32)
                return cairn_error_set(err, CAIRN_EINVAL, final_path, "path too long");
            memcpy(path, link, (size_t)n + 1);
        }
    }
    snprintf(f->final_path, sizeof f->final_path, "%s", path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            return cairn_error_set(err, CAIRN_EINVAL, final_path, "is a directory");
        /* A device, FIFO or socket is written in place. */
        f->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (f->fd < 0)
            return cairn_error_errno(err, errno, final_path, "cannot open for writing");
        f->direct = true;
        return CAIRN_OK;
    }
    final_path = f->final_path;
    dir_of(final_path, dir, sizeof dir);
    /* Temporary names start with ".tmp-" so a cleaner can find leftovers of a crash. */
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s/.tmp-XXXXXX", dir);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0)
        return cairn_error_errno(err, errno, dir, "cannot create temporary file");
    /* mkostemp makes 0600 files; objects and contracts are meant to be readable like any file. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(f->fd, 0666 & ~mask);
    return CAIRN_OK;
}

cairn_status cairn_atomic_write(cairn_atomic_file *f, const void *p, size_t n, cairn_error *err)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(f->fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return cairn_error_errno(err, errno, f->tmp_path, "write failed");
        }
        c += w;
        n -= (size_t)w;
    }
    return CAIRN_OK;
}

cairn_status cairn_atomic_commit(cairn_atomic_file *f, cairn_error *err)
{
    char dir[4096];
    if (f->direct) {
        /* A device, FIFO or socket: nothing to sync or rename. */
        int rc = close(f->fd);
        f->fd = -1;
        return rc == 0 ? CAIRN_OK : cairn_error_errno(err, errno, f->final_path, "close failed");
    }
    if (fsync(f->fd) != 0) {
        cairn_status st = cairn_error_errno(err, errno, f->tmp_path, "fsync failed");
        cairn_atomic_abort(f);
        return st;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        cairn_status st = cairn_error_errno(err, errno, f->tmp_path, "close failed");
        cairn_atomic_abort(f);
        return st;
    }
    f->fd = -1;
    if (rename(f->tmp_path, f->final_path) != 0) {
        cairn_status st = cairn_error_errno(err, errno, f->final_path, "rename failed");
        cairn_atomic_abort(f);
        return st;
    }
    f->tmp_path[0] = '\0';
    dir_of(f->final_path, dir, sizeof dir);
    return cairn_fsync_dir(dir, err);
}

void cairn_atomic_abort(cairn_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path[0])
        unlink(f->tmp_path);
    f->tmp_path[0] = '\0';
}

cairn_status cairn_write_file_atomic(const char *final_path, const void *p, size_t n,
                                     cairn_error *err)
{
    cairn_atomic_file f;
    cairn_status st = cairn_atomic_open(&f, final_path, err);
    if (st != CAIRN_OK)
        return st;
    st = cairn_atomic_write(&f, p, n, err);
    if (st != CAIRN_OK) {
        cairn_atomic_abort(&f);
        return st;
    }
    return cairn_atomic_commit(&f, err);
}

cairn_status cairn_read_file(const char *path, char **out, size_t *out_len, cairn_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cairn_error_errno(err, errno, path, "cannot open");
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cairn_error_errno(err, e, path, "cannot stat");
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return cairn_error_set(err, CAIRN_EIO, path, "is a directory, not a file");
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    size_t len = 0;
    char *data = cairn_malloc(cap);
    if (!data) {
        close(fd);
        return cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory reading file");
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *p = cap < SIZE_MAX / 2 ? cairn_realloc(data, cap * 2) : NULL;
            if (!p) {
                cairn_free(data);
                close(fd);
                return cairn_error_set(err, CAIRN_ENOMEM, path, "out of memory reading file");
            }
            data = p;
            cap *= 2;
        }
        ssize_t r = read(fd, data + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            cairn_free(data);
            close(fd);
            return cairn_error_errno(err, e, path, "read failed");
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return CAIRN_OK;
}
