/*
 * listen.h -- one listening socket in front of N single-threaded
 * libmicrohttpd daemons, each connection handed to the daemon holding the
 * fewest.
 *
 * Why not libmicrohttpd's own thread pool: there every worker accepts from
 * the shared socket, and whichever wakes first takes the connection. A burst
 * of keep-alive connections (a load balancer, a client pool) lands unevenly
 * (13 and 49 of 64 in one measured run) and stays that way for the life of
 * the connections, so the busier thread's clients wait several times longer.
 * Here one acceptor thread places every connection on the least-loaded
 * daemon (MHD_add_connection), so the threads hold equal shares.
 *
 * Depends on libc, pthreads and libmicrohttpd only, so bench/serve_bare.c
 * (the HTTP ceiling the serving benchmark compares against) builds the very
 * same front.
 */
#ifndef CAIRN_SERVE_LISTEN_H
#define CAIRN_SERVE_LISTEN_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cairn_http_pool cairn_http_pool;

#define CAIRN_HTTP_MAX_HEADER_DEFAULT 8192

typedef struct {
    struct sockaddr_in addr;                 /* where to listen; port 0 picks a free one */
    unsigned threads;                        /* daemons, one thread each; 0 means 1 */
    unsigned conn_limit;                     /* connections over all daemons; 0 means 4096 */
    unsigned conn_timeout_s;                 /* idle / slow client timeout; 0 means 30 */
    size_t max_header;                       /* the largest request head (request line and
                                                headers) always accepted; 0 means 8192.
                                                A head well past it gets 431. */
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
    MHD_RequestCompletedCallback completed;  /* may be NULL */
    void *completed_cls;
} cairn_http_pool_opts;

/* Binds, listens and starts the daemons and the acceptor: 0, or -1 with a
 * message in errbuf (what failed and errno's words) and *out NULL. *out is
 * stored before the first connection is accepted, so handlers may read it. */
int cairn_http_pool_start(const cairn_http_pool_opts *o, cairn_http_pool **out, char *errbuf,
                          size_t errlen);

/* The port actually bound (the one picked when asked for 0). */
int cairn_http_pool_port(const cairn_http_pool *p);

/* Connections refused because conn_limit were open. */
uint64_t cairn_http_pool_refused(const cairn_http_pool *p);

/* Connections open now, all daemons together. */
unsigned cairn_http_pool_connections(const cairn_http_pool *p);

/* Connections open now on daemon i (for tests of the balance); 0 past the end. */
unsigned cairn_http_pool_connections_of(const cairn_http_pool *p, unsigned i);

/* Stops accepting (closes the listening socket), then stops each daemon:
 * handlers in flight finish, open connections are closed. NULL is a no-op. */
void cairn_http_pool_stop(cairn_http_pool *p);

#endif
