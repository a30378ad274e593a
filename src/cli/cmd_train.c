/*
 * cmd_train.c -- `cairn train SPEC.yaml`: runs the pipeline (pipeline/train.h)
 * and prints the stored run the way `cairn runs show` does.
 *
 * Progress goes to stderr: on a terminal, a line per finished stage and a
 * bar with rate and ETA while boosting; elsewhere nothing unless --verbose
 * (then the stage lines only), so scripts and CI logs stay clean.
 */
#include "cli/cli.h"
#include "pipeline/train.h"
#include "registry/artifact.h"

#include <sodium.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct progress {
    bool tty;
    bool verbose;
    bool bar_shown;
    double t0;               /* monotonic seconds when boosting began */
} progress;

static void clear_bar(progress *p)
{
    if (p->bar_shown) {
        fprintf(stderr, "\r%*s\r", 78, "");
        p->bar_shown = false;
    }
}

static void on_stage(void *ctx, const char *stage, bool end, double seconds)
{
    progress *p = ctx;
    if (!end) {
        if (strcmp(stage, "train") == 0)
            p->t0 = cairn_mono_s();
        return;
    }
    if (!p->tty && !p->verbose)
        return;
    clear_bar(p);
    fprintf(stderr, "  %-10s %8.3f s\n", stage, seconds);
    fflush(stderr);
}

static void fmt_secs(double s, char *out, size_t cap)
{
    if (!(s >= 0) || s > 359999)
        snprintf(out, cap, "--:--");
    else if (s >= 3600)
        snprintf(out, cap, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(out, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void on_round(void *ctx, int round, int total, double valid_metric)
{
    progress *p = ctx;
    if (!p->tty)
        return;
    int done = round + 1;
    double el = cairn_mono_s() - p->t0;
    double rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : NAN;
    char eta_s[16];
    fmt_secs(eta, eta_s, sizeof eta_s);
    int filled = total > 0 ? (int)(24.0 * done / total) : 0;
    fprintf(stderr, "\r  boosting [%.*s%*s] %d/%d  %.1f rounds/s  ETA %s", filled,
            "########################", 24 - filled, "", done, total, rate, eta_s);
    if (isfinite(valid_metric))
        fprintf(stderr, "  valid %.5g", valid_metric);
    fflush(stderr);
    p->bar_shown = true;
}

int cmd_train(const cli_cmd *cmd, cli_args *a)
{
    cairn_train_opts o;
    cairn_train_opts_init(&o);
    const char *seed = cli_get(cmd, a, "seed");
    if (seed) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(seed, &end, 10);
        if (!*seed || *end || errno || seed[0] == '-')
            return cli_usage_error(cmd, "--seed must be a non-negative integer, not '%s'", seed);
        o.seed_set = true;
        o.seed = v;
    }
    const char *threads = cli_get(cmd, a, "threads");
    if (threads) {
        char *end;
        long v = strtol(threads, &end, 10);
        if (!*threads || *end || v < 1 || v > 4096)
            return cli_usage_error(cmd, "--threads must be 1..4096, not '%s'", threads);
        o.threads = (int)v;
    }
    progress pr = {.tty = !a->quiet && isatty(STDERR_FILENO),
                   .verbose = !a->quiet && cli_flag(cmd, a, "verbose")};
    o.on_stage = on_stage;
    o.on_round = on_round;
    o.ctx = &pr;

    const char *path = a->pos[0];
    char *text = NULL;
    size_t len = 0;
    cairn_error err = {0};
    const char *sign_key = cli_get(cmd, a, "sign");
    if (sign_key) {
        /* A bad key file should stop us before an hour of training, not after. */
        unsigned char sk[CAIRN_ARTIFACT_SK_BYTES];
        cairn_status kst = cairn_key_read_secret(sign_key, sk, &err);
        sodium_memzero(sk, sizeof sk);
        if (kst != CAIRN_OK)
            return cli_fail(&err);
    }
    if (cairn_read_file(path, &text, &len, &err) != CAIRN_OK)
        return cli_fail(&err);
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc) {
        cairn_free(text);
        return rc;
    }
    cairn_run_record rec;
    memset(&rec, 0, sizeof rec);
    if (pr.tty || pr.verbose)
        fprintf(stderr, "training from %s\n", path);
    cairn_status st = cairn_train(h, text, len, path, &o, &rec, &err);
    clear_bar(&pr);
    if (st == CAIRN_OK || rec.id[0]) {
        if (a->json) {
            cairn_buf b;
            cairn_buf_init(&b);
            cli_run_to_json(&rec, &b);
            int jr = cli_emit_json(&b);
            cairn_buf_reset(&b);
            if (st == CAIRN_OK)
                rc = jr;
        } else if (st == CAIRN_OK) {
            cli_print_run(&rec, stdout);
        }
    }
    if (st == CAIRN_OK && sign_key && rec.id[0]) {
        int sr = cli_sign_ref(h, rec.id, sign_key, false, a->json || a->quiet);
        if (sr)
            rc = sr;
    }
    if (st != CAIRN_OK) {
        rc = cli_fail(&err);
        if (rec.id[0])
            fprintf(stderr, "cairn: the failed run is recorded as %s (cairn runs show %s)\n",
                    rec.id, rec.id);
    }
    cairn_run_record_reset(&rec);
    cairn_home_close(h);
    cairn_free(text);
    return rc;
}
