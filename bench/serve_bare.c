/*
 * serve_bare.c -- the ceiling for bench/serve.sh: a bare libmicrohttpd
 * server, started through the same front as `cairn serve` (src/serve/listen.c:
 * one acceptor placing each connection on the least-loaded of THREADS
 * single-threaded epoll daemons; 4096 connections, a 30 s connection
 * timeout), that reads and discards any request body and answers every
 * request with one fixed small JSON reply of about the size of a one-row
 * prediction. What it costs is HTTP alone: no parsing, no model, no log.
 *
 *   serve_bare PORT THREADS
 *
 * Listens on 127.0.0.1 only, prints "ready" on stdout once listening, runs
 * until SIGTERM or SIGINT, then stops the daemons and exits 0.
 */
#include "serve/listen.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char REPLY[] =
    "{\"model\":\"churn\",\"model_version\":1,\"alias\":\"production\","
    "\"request_id\":\"00000000000000000000000000000000\","
    "\"predictions\":[{\"score\":0.2345678901234567,\"label\":\"No\"}]}";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    /* First call: headers only. Body chunks follow; discard them. */
    if (!*con_cls) {
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof REPLY - 1, (void *)REPLY,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    int port = argc == 3 ? atoi(argv[1]) : 0;
    int threads = argc == 3 ? atoi(argv[2]) : 0;
    if (port <= 0 || port > 65535 || threads <= 0) {
        fprintf(stderr, "usage: serve_bare PORT THREADS\n");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Blocked until sigsuspend, so a signal cannot slip in before the wait. The
     * daemon's threads inherit the mask, so the main thread takes the signal. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);

    cairn_http_pool_opts o = {
        .addr = addr,
        .threads = (unsigned)threads,
        .conn_limit = 4096u,
        .conn_timeout_s = 30u,
        .handler = on_request,
    };
    char why[200];
    cairn_http_pool *d;
    if (cairn_http_pool_start(&o, &d, why, sizeof why) != 0) {
        fprintf(stderr, "serve_bare: error: cannot listen on 127.0.0.1:%d: %s\n", port, why);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        sigsuspend(&old);
    cairn_http_pool_stop(d);
    return 0;
}
