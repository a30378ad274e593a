/*
 * server.h -- `cairn serve`: the HTTP server (libmicrohttpd, epoll, a thread
 * pool) and its router. Endpoints and replies are DESIGN.md's "HTTP API";
 * docs/serve.md documents them with the limits and the metrics.
 *
 * Models in the server follow the registry: a watcher thread polls the
 * aliases of every served model; when one moves, the new version is loaded
 * and warmed off the request path, then swapped in under the model's lock.
 * Requests hold a reference to the version they started with, so in-flight
 * requests finish on the old one, which is freed by the last reference. A
 * failed load keeps the old version and is counted in /metrics.
 */
#ifndef CAIRN_SERVE_SERVER_H
#define CAIRN_SERVE_SERVER_H

#include "registry/models.h"
#include "serve/serve.h"

/* ---- route.c: the router (pure, fuzzed) ---------------------------------------------- */

typedef enum cairn_route_kind {
    CAIRN_ROUTE_NONE = 0,      /* no such endpoint: 404 */
    CAIRN_ROUTE_BAD_METHOD,    /* known path, wrong method: 405 */
    CAIRN_ROUTE_HEALTHZ,       /* GET /healthz */
    CAIRN_ROUTE_READYZ,        /* GET /readyz */
    CAIRN_ROUTE_METRICS,       /* GET /metrics */
    CAIRN_ROUTE_MODELS,        /* GET /v1/models */
    CAIRN_ROUTE_MODEL,         /* GET /v1/models/{name} */
    CAIRN_ROUTE_PREDICT,       /* POST /v1/models/{name}:predict */
    CAIRN_ROUTE_RELOAD         /* POST /v1/models/{name}:reload */
} cairn_route_kind;

typedef struct cairn_route {
    cairn_route_kind kind;
    char model[CAIRN_NAME_MAX + 1];   /* NAME */
    char alias[CAIRN_ALIAS_MAX + 1];  /* "NAME@ALIAS": ALIAS; "" otherwise */
    int version;                      /* "NAME@N": N; 0 otherwise */
    const char *allow;                /* BAD_METHOD: the Allow header value */
} cairn_route;

/*
 * Routes method + path (path without the query string; not necessarily
 * NUL-terminated: path_len bytes). A model reference that is not a valid
 * NAME, NAME@N or NAME@ALIAS routes to NONE. Never reads past path_len.
 */
void cairn_route_match(const char *method, const char *path, size_t path_len, cairn_route *out);

/* ---- server.c ------------------------------------------------------------------------------ */

typedef struct cairn_server cairn_server;

typedef struct cairn_server_opts {
    const char *home_dir;         /* required */
    const char *const *models;    /* model names to serve; n_models 0: every model that has a
                                     production alias when the server starts */
    size_t n_models;
    const char *bind;             /* default "127.0.0.1" */
    int port;                     /* 0: a free port (cairn_server_port tells which) */
    int threads;                  /* request threads; 0: the number of cores */
    size_t max_body_bytes;        /* 0: 1 MiB; a larger body gets 413 */
    size_t max_header_bytes;      /* 0: 8 KiB; the largest request head always accepted (a
                                     head well past it gets 431) */
    size_t max_rows;              /* 0: 1000 rows per request; more gets 413 */
    double deadline_ms;           /* 0: 1000; a request older than this when its turn comes
                                     gets 503, and the fallback chain answers rows the primary
                                     cannot score in time */
    size_t max_inflight;          /* 0: threads x 256, at least 1024; more concurrent requests
                                     get 503 */
    unsigned conn_limit;          /* 0: 4096 connections */
    unsigned conn_timeout_s;      /* 0: 30 s idle / slow-client timeout */
    double poll_seconds;          /* 0: 1.0; the registry watch interval */
    const char *admin_token;      /* NULL: the admin endpoints (reload) answer 403 */
    bool no_log;                  /* true: no prediction log */
    cairn_plog_opts log;          /* log.dir NULL: HOME/logs */
    bool quiet;                   /* no lines on stderr about loads and swaps */
} cairn_server_opts;

void cairn_server_opts_init(cairn_server_opts *o);

/* Loads the models and starts serving. Errors: CAIRN_ENOTFOUND (a named model has no
 * production version), CAIRN_EIO (cannot bind), model load errors. */
cairn_status cairn_server_start(const cairn_server_opts *o, cairn_server **out,
                                cairn_error *err);
int cairn_server_port(const cairn_server *s);
/* Stops accepting, lets in-flight requests finish, stops the watcher, flushes and closes
 * the prediction log, frees everything. Accepts NULL. */
cairn_status cairn_server_stop(cairn_server *s, cairn_error *err);

#endif /* CAIRN_SERVE_SERVER_H */
