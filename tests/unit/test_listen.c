/*
 * test_listen.c -- the server's front (serve/listen.c): one listening socket,
 * connections placed on the least-loaded of N single-threaded daemons.
 *
 * The handler answers with the id of the thread that ran it, so where a
 * connection landed is read from the replies over real loopback HTTP, not
 * only from the front's own counters. Checked: a burst of keep-alive
 * connections is spread evenly; connections opened after some closed all go
 * to the daemon that lost them; the connection limit closes the extra
 * connection at once, counts it, and frees up when one closes; port 0 picks
 * a port and a taken port is a clear error; stopping with idle connections
 * open returns and closes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "serve/listen.h"

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
    if (!*con_cls) {   /* headers only: answer on the next call, as libmicrohttpd wants */
        *con_cls = c;
        return MHD_YES;
    }
    *upload_data_size = 0;
    char body[32];
    int n = snprintf(body, sizeof body, "%ld", (long)syscall(SYS_gettid));
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static cairn_http_pool *start(unsigned threads, unsigned limit, int port)
{
    cairn_http_pool_opts o;
    memset(&o, 0, sizeof o);
    o.addr = loopback(port);
    o.threads = threads;
    o.conn_limit = limit;
    o.handler = on_request;
    char why[200] = "";
    cairn_http_pool *p;
    if (cairn_http_pool_start(&o, &p, why, sizeof why) != 0)
        fail_msg("cairn_http_pool_start: %s", why);
    return p;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* One GET on a keep-alive connection; the id of the thread that answered,
 * or -1 when the connection was closed or reset without a reply. */
static long ask(int fd)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
        return -1;
    char buf[1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl) {
            size_t want = (size_t)atol(cl + 16);
            if (got >= (size_t)(end + 4 - buf) + want) {
                assert_non_null(strstr(buf, "HTTP/1.1 200"));
                return atol(end + 4);
            }
        }
        assert_true(got < sizeof buf - 1);
    }
}

/* Opens n connections to port, each answered once. */
static void open_served(int port, int *fd, int n)
{
    for (int i = 0; i < n; i++) {
        fd[i] = dial(port);
        assert_true(ask(fd[i]) > 0);
    }
}

/* Waits up to 5 s for the front to count n open connections. */
static void wait_connections(cairn_http_pool *p, unsigned n)
{
    for (int i = 0; i < 500 && cairn_http_pool_connections(p) != n; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(cairn_http_pool_connections(p), n);
}

enum { THREADS = 4, PER = 10, CONNS = THREADS * PER };

static void test_balance(void **state)
{
    (void)state;
    cairn_http_pool *p = start(THREADS, 0, 0);
    int port = cairn_http_pool_port(p);
    int fd[CONNS];
    long tid[CONNS];
    for (int i = 0; i < CONNS; i++)   /* the whole burst first, as a client pool opens */
        fd[i] = dial(port);
    for (int i = 0; i < CONNS; i++) {
        tid[i] = ask(fd[i]);
        assert_true(tid[i] > 0);
    }
    /* the threads that answered, and how many connections each holds */
    long seen[THREADS] = {0};
    int count[THREADS] = {0};
    for (int i = 0; i < CONNS; i++) {
        int k = 0;
        while (k < THREADS && seen[k] && seen[k] != tid[i])
            k++;
        assert_true(k < THREADS);   /* never more than THREADS distinct threads */
        seen[k] = tid[i];
        count[k]++;
    }
    for (int k = 0; k < THREADS; k++)
        assert_int_equal(count[k], PER);
    for (unsigned k = 0; k < THREADS; k++)
        assert_int_equal(cairn_http_pool_connections_of(p, k), PER);
    assert_int_equal(cairn_http_pool_connections_of(p, THREADS), 0);
    /* a connection keeps its thread */
    for (int i = 0; i < CONNS; i++)
        assert_int_equal(ask(fd[i]), tid[i]);

    /* close every connection of one thread: the next PER all go there */
    long freed = tid[CONNS / 2];
    for (int i = 0; i < CONNS; i++)
        if (tid[i] == freed) {
            close(fd[i]);
            fd[i] = -1;
        }
    wait_connections(p, CONNS - PER);
    int more[PER];
    for (int i = 0; i < PER; i++)
        more[i] = dial(port);
    for (int i = 0; i < PER; i++)
        assert_int_equal(ask(more[i]), freed);
    for (int i = 0; i < PER; i++)
        close(more[i]);
    for (int i = 0; i < CONNS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    wait_connections(p, 0);
    assert_int_equal(cairn_http_pool_refused(p), 0);
    cairn_http_pool_stop(p);
}

static void test_limit(void **state)
{
    (void)state;
    cairn_http_pool *p = start(2, 3, 0);
    int port = cairn_http_pool_port(p);
    int fd[3];
    open_served(port, fd, 3);
    /* the kernel completes the handshake; the front closes it unanswered */
    int extra = dial(port);
    assert_int_equal(ask(extra), -1);
    close(extra);
    assert_int_equal(cairn_http_pool_refused(p), 1);
    assert_int_equal(cairn_http_pool_connections(p), 3);
    for (int i = 0; i < 3; i++)   /* the open ones are unaffected */
        assert_true(ask(fd[i]) > 0);
    close(fd[0]);
    wait_connections(p, 2);
    fd[0] = dial(port);
    assert_true(ask(fd[0]) > 0);
    assert_int_equal(cairn_http_pool_refused(p), 1);
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    cairn_http_pool_stop(p);
}

static void test_port_taken(void **state)
{
    (void)state;
    cairn_http_pool *p = start(1, 0, 0);
    int port = cairn_http_pool_port(p);
    assert_true(port > 0 && port < 65536);
    cairn_http_pool_opts o;
    memset(&o, 0, sizeof o);
    o.addr = loopback(port);
    o.handler = on_request;
    char why[200] = "";
    cairn_http_pool *second = p;
    assert_int_equal(cairn_http_pool_start(&o, &second, why, sizeof why), -1);
    assert_null(second);
    assert_non_null(strstr(why, "bind"));
    assert_non_null(strstr(why, strerror(EADDRINUSE)));
    /* the first one still serves */
    int fd = dial(port);
    assert_true(ask(fd) > 0);
    close(fd);
    cairn_http_pool_stop(p);
    cairn_http_pool_stop(NULL);
}

static void test_stop_with_idle_connections(void **state)
{
    (void)state;
    cairn_http_pool *p = start(2, 0, 0);
    int port = cairn_http_pool_port(p);
    int fd[4];
    open_served(port, fd, 4);
    time_t t0 = time(NULL);
    cairn_http_pool_stop(p);
    assert_true(time(NULL) - t0 <= 2);
    for (int i = 0; i < 4; i++) {   /* closed by the server: EOF or reset, no reply */
        char c;
        assert_true(recv(fd[i], &c, 1, 0) <= 0);
        close(fd[i]);
    }
    /* nothing listens any more */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    assert_true(connect(s, (struct sockaddr *)&a, sizeof a) < 0);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_port_taken),
        cmocka_unit_test(test_stop_with_idle_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
