/*
 * error.c -- the status table (generated from CAIRN_STATUS_MAP in cairn.h) and
 * the helpers that fill a caller-owned cairn_error.
 */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct status_row {
    const char *name;
    const char *msg;
    int exit_code;
    int http;
} status_row;

static const status_row status_table[] = {
#define X(name, msg, exitc, http) {#name, msg, exitc, http},
    CAIRN_STATUS_MAP(X)
#undef X
};

static const status_row *row_of(cairn_status s)
{
    if ((unsigned)s >= CAIRN_ARRAY_LEN(status_table))
        return &status_table[CAIRN_EINTERNAL];
    return &status_table[s];
}

CAIRN_API const char *cairn_version(void) { return CAIRN_VERSION_STRING; }
CAIRN_API const char *cairn_status_name(cairn_status s) { return row_of(s)->name; }
CAIRN_API const char *cairn_status_message(cairn_status s) { return row_of(s)->msg; }
CAIRN_API int cairn_status_exit_code(cairn_status s) { return row_of(s)->exit_code; }
CAIRN_API int cairn_status_http(cairn_status s) { return row_of(s)->http; }

CAIRN_API const char *cairn_type_name(cairn_type t)
{
    switch (t) {
    case CAIRN_TYPE_BOOL: return "bool";
    case CAIRN_TYPE_INT64: return "int64";
    case CAIRN_TYPE_FLOAT64: return "float64";
    case CAIRN_TYPE_TIMESTAMP: return "timestamp";
    case CAIRN_TYPE_STRING: return "string";
    default: return "none";
    }
}

static void set_where(cairn_error *err, const char *where)
{
    if (!where) {
        err->where[0] = '\0';
        return;
    }
    snprintf(err->where, sizeof err->where, "%s", where);
}

cairn_status cairn_error_set(cairn_error *err, cairn_status code, const char *where,
                             const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    } else {
        snprintf(err->msg, sizeof err->msg, "%s", cairn_status_message(code));
    }
    set_where(err, where);
    return code;
}

cairn_status cairn_error_at(cairn_error *err, cairn_status code, const char *file, long line,
                            long column, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (line > 0 && column > 0)
        snprintf(err->where, sizeof err->where, "%s:%ld:%ld", file ? file : "-", line, column);
    else if (line > 0)
        snprintf(err->where, sizeof err->where, "%s:%ld", file ? file : "-", line);
    else
        set_where(err, file);
    return code;
}

cairn_status cairn_error_errno(cairn_error *err, int errnum, const char *path, const char *what)
{
    cairn_status code = CAIRN_EIO;
    if (errnum == ENOENT || errnum == ENOTDIR)
        code = CAIRN_ENOTFOUND;
    else if (errnum == ENOMEM)
        code = CAIRN_ENOMEM;
    return cairn_error_set(err, code, path, "%s: %s", what, strerror(errnum));
}
