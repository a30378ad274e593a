/*
 * listen.c -- one listening socket, one acceptor thread, N single-threaded
 * libmicrohttpd daemons; every new connection goes to the daemon with the
 * fewest open. See listen.h for why.
 *
 * Counting: the acceptor adds one to a daemon's count before handing the
 * socket over, and the daemon's close notification takes it off. A hand-over
 * that fails at once (MHD_add_connection says no, having closed the socket)
 * is taken off by the acceptor. libmicrohttpd can still drop a handed-over
 * socket later without a notification (out of memory setting it up); the
 * count then stays one high, which costs a little balance and one
 * connection of the limit, never correctness.
 */
#include "serve/listen.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    struct MHD_Daemon *d;
    atomic_uint open;
} worker;

struct cairn_http_pool {
    int fd;                  /* the listening socket, non-blocking */
    int wake;                /* eventfd: the acceptor's stop signal */
    int port;
    unsigned n;
    unsigned limit;
    worker *w;
    pthread_t acceptor;
    bool acceptor_started;
    atomic_bool stopping;
    atomic_uint_fast64_t refused;
};

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    worker *w = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&w->open, 1);
}

/* The daemon with the fewest open connections, scanning from a rotating
 * start so that ties are spread; UINT_MAX when the limit is reached. */
static unsigned pick(cairn_http_pool *p, unsigned start)
{
    unsigned best = UINT_MAX, best_open = UINT_MAX, total = 0;
    for (unsigned k = 0; k < p->n; k++) {
        unsigned i = (start + k) % p->n;
        unsigned o = atomic_load(&p->w[i].open);
        total += o;
        if (o < best_open) {
            best_open = o;
            best = i;
        }
    }
    return total >= p->limit ? UINT_MAX : best;
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *acceptor_main(void *arg)
{
    pthread_setname_np(pthread_self(), "cairn-accept");   /* shown by top -H, ps -L, perf */
    cairn_http_pool *p = arg;
    unsigned turn = 0;
    struct pollfd pf[2] = {{.fd = p->fd, .events = POLLIN}, {.fd = p->wake, .events = POLLIN}};
    while (!atomic_load(&p->stopping)) {
        if (poll(pf, 2, -1) < 0) {
            if (errno != EINTR)
                pause_ms(10);
            continue;
        }
        if (pf[1].revents)
            break;
        /* take the whole burst the backlog holds */
        while (!atomic_load(&p->stopping)) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int fd = accept4(p->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    pause_ms(10);   /* out of descriptors or memory: do not spin */
                break;
            }
            unsigned i = pick(p, turn++);
            if (i == UINT_MAX) {
                atomic_fetch_add(&p->refused, 1);   /* counted before the client can see it */
                close(fd);
                continue;
            }
            atomic_fetch_add(&p->w[i].open, 1);
            if (MHD_add_connection(p->w[i].d, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
                atomic_fetch_sub(&p->w[i].open, 1);   /* libmicrohttpd closed it */
        }
    }
    return NULL;
}

static void fail_msg(char *errbuf, size_t errlen, const char *what, int e)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s: %s", what, strerror(e));
}

int cairn_http_pool_start(const cairn_http_pool_opts *o, cairn_http_pool **out, char *errbuf,
                          size_t errlen)
{
    *out = NULL;
    cairn_http_pool *p = calloc(1, sizeof *p);
    if (!p) {
        fail_msg(errbuf, errlen, "out of memory", ENOMEM);
        return -1;
    }
    p->fd = -1;
    p->wake = -1;
    p->n = o->threads ? o->threads : 1;
    p->limit = o->conn_limit ? o->conn_limit : 4096u;
    p->w = calloc(p->n, sizeof *p->w);
    if (!p->w) {
        fail_msg(errbuf, errlen, "out of memory", ENOMEM);
        goto fail;
    }
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (p->fd < 0) {
        fail_msg(errbuf, errlen, "socket", errno);
        goto fail;
    }
    int one = 1;
    (void)setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(p->fd, (const struct sockaddr *)&o->addr, sizeof o->addr) < 0) {
        fail_msg(errbuf, errlen, "bind", errno);
        goto fail;
    }
    if (listen(p->fd, 1024) < 0) {
        fail_msg(errbuf, errlen, "listen", errno);
        goto fail;
    }
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    if (getsockname(p->fd, (struct sockaddr *)&got, &gl) < 0) {
        fail_msg(errbuf, errlen, "getsockname", errno);
        goto fail;
    }
    p->port = ntohs(got.sin_port);
    p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake < 0) {
        fail_msg(errbuf, errlen, "eventfd", errno);
        goto fail;
    }
    /* libmicrohttpd keeps each connection's request head, read buffer and reply head
     * in one pool of this size, and zeroes the whole pool after every request on a
     * kept-alive connection: its default of 32 KiB cost about 1 µs a request. The
     * head must fit with room to spare for the reply head (measured: up to about
     * 600 bytes short of the pool is accepted), hence the 2 KiB over the limit. */
    size_t pool = (o->max_header ? o->max_header : CAIRN_HTTP_MAX_HEADER_DEFAULT) + 2048;
    for (unsigned i = 0; i < p->n; i++) {
        p->w[i].d = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC, 0, NULL, NULL,
            o->handler, o->handler_cls, MHD_OPTION_CONNECTION_LIMIT, p->limit,
            MHD_OPTION_CONNECTION_TIMEOUT, o->conn_timeout_s ? o->conn_timeout_s : 30u,
            MHD_OPTION_NOTIFY_COMPLETED, o->completed, o->completed_cls,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, &p->w[i],
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_END);
        if (!p->w[i].d) {
            fail_msg(errbuf, errlen, "starting a libmicrohttpd daemon", errno ? errno : EIO);
            goto fail;
        }
    }
    *out = p;   /* before any connection can reach a handler */
    if (pthread_create(&p->acceptor, NULL, acceptor_main, p) != 0) {
        fail_msg(errbuf, errlen, "starting the acceptor thread", EAGAIN);
        goto fail;
    }
    p->acceptor_started = true;
    return 0;
fail:
    *out = NULL;
    cairn_http_pool_stop(p);
    return -1;
}

int cairn_http_pool_port(const cairn_http_pool *p)
{
    return p->port;
}

uint64_t cairn_http_pool_refused(const cairn_http_pool *p)
{
    return atomic_load(&((cairn_http_pool *)p)->refused);
}

unsigned cairn_http_pool_connections_of(const cairn_http_pool *p, unsigned i)
{
    return i < p->n ? atomic_load(&((cairn_http_pool *)p)->w[i].open) : 0;
}

unsigned cairn_http_pool_connections(const cairn_http_pool *p)
{
    unsigned t = 0;
    for (unsigned i = 0; i < p->n; i++)
        t += cairn_http_pool_connections_of(p, i);
    return t;
}

void cairn_http_pool_stop(cairn_http_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    if (p->acceptor_started) {
        uint64_t one = 1;
        ssize_t wr = write(p->wake, &one, sizeof one);
        (void)wr;
        pthread_join(p->acceptor, NULL);
    }
    if (p->fd >= 0)
        close(p->fd);   /* connections still in the backlog are reset */
    if (p->wake >= 0)
        close(p->wake);
    for (unsigned i = 0; p->w && i < p->n; i++)
        if (p->w[i].d)
            MHD_stop_daemon(p->w[i].d);   /* waits for the handlers in flight */
    free(p->w);
    free(p);
}
