/*
 * cmd_report.c -- `cairn report RUN -o FILE` and `cairn report monitor NAME
 * -o FILE`: builds the HTML page (report/report.h) and writes it durably
 * (temporary file, fsync, rename), so a crash never leaves half a report
 * under the name. The page itself is the library's; this file parses the
 * arguments, runs the monitor for the second form and says what it wrote.
 */
#include "cli/cli.h"
#include "report/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_threads(const cli_cmd *cmd, const cli_args *a, int *out)
{
    const char *t = cli_get(cmd, a, "threads");
    *out = 0;
    if (!t)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(t, &end, 10);
    if (errno || end == t || *end || v < 1 || v > 1024)
        return cli_usage_error(cmd, "--threads must be an integer in 1..1024, not '%s'", t);
    *out = (int)v;
    return 0;
}

/* The monitor options of `report monitor`: --since/--until/--window/--log-dir, thresholds
 * as `cairn monitor` takes them without flags (defaults, then the spec's monitor: section). */
static int monitor_opts(const cli_cmd *cmd, const cli_args *a, cairn_home *h, const char *model,
                        cairn_monitor_opts *o)
{
    cairn_error err = {0};
    cairn_monitor_opts_init(o);
    o->model = model;
    o->log_dir = cli_get(cmd, a, "log-dir");
    o->window_us = 86400LL * 1000000LL;
    o->calendar_months = false;
    int64_t now = cairn_now_us();
    const char *s;
    if ((s = cli_get(cmd, a, "since")) &&
        cairn_monitor_parse_time(s, "--since", now, &o->since_us, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    if ((s = cli_get(cmd, a, "until")) &&
        cairn_monitor_parse_time(s, "--until", now, &o->until_us, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    if (o->since_us >= o->until_us)
        return cli_usage_error(cmd, "--since must be before --until");
    if ((s = cli_get(cmd, a, "window")) &&
        cairn_monitor_parse_window(s, &o->window_us, &o->calendar_months, &err) != CAIRN_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    cairn_status st = cairn_monitor_thresholds_from_spec(h, model, &o->th, &err);
    if (st != CAIRN_OK && st != CAIRN_ENOTFOUND)
        return cli_fail(&err);
    return 0;
}

/* Writes the page and says so: "wrote FILE (N bytes)" or {"output":..,"bytes":..}. */
static int write_page(const cli_args *a, const char *path, cairn_buf *page)
{
    cairn_error err = {0};
    if (page->failed) {
        cairn_error_set(&err, CAIRN_ENOMEM, "report", "out of memory");
        return cli_fail(&err);
    }
    if (cairn_write_file_atomic(path, page->data, page->len, &err) != CAIRN_OK)
        return cli_fail(&err);
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"output\":");
        cli_json_str(&b, path);
        cairn_buf_printf(&b, ",\"bytes\":%zu}", page->len);
        int rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    if (!a->quiet)
        printf("wrote %s (%zu bytes)\n", path, page->len);
    return fflush(stdout) == 0 ? 0 : 4;
}

int cmd_report(const cli_cmd *cmd, cli_args *a)
{
    const char *out = cli_get(cmd, a, "output");
    bool monitor = strcmp(a->pos[0], "monitor") == 0;
    if (monitor && a->n_pos != 2)
        return cli_usage_error(cmd, "report monitor needs one model name: cairn report monitor "
                                    "NAME -o FILE");
    if (!monitor && a->n_pos != 1)
        return cli_usage_error(cmd, "give one run id, or: cairn report monitor NAME -o FILE");
    if (!out || !*out)
        return cli_usage_error(cmd, "-o FILE is required (the HTML file to write)");
    if (monitor && cli_get(cmd, a, "threads"))
        return cli_usage_error(cmd, "--threads is for the run report");
    if (!monitor && (cli_get(cmd, a, "since") || cli_get(cmd, a, "until") ||
                     cli_get(cmd, a, "window") || cli_get(cmd, a, "log-dir")))
        return cli_usage_error(cmd, "--since, --until, --window and --log-dir are for "
                                    "`cairn report monitor`");
    int threads = 0, rc;
    if ((rc = parse_threads(cmd, a, &threads)))
        return rc;
    cairn_home *h = NULL;
    if ((rc = cli_open_home(a, &h)))
        return rc;
    cairn_error err = {0};
    cairn_buf page;
    cairn_buf_init(&page);
    if (monitor) {
        cairn_monitor_opts o;
        cairn_monitor_result res;
        cairn_monitor_result_init(&res);
        if ((rc = monitor_opts(cmd, a, h, a->pos[1], &o)) == 0) {
            if (cairn_monitor_run(h, &o, &res, &err) != CAIRN_OK) {
                rc = cli_fail(&err);
            } else {
                char now[40];
                cairn_now_iso(now, sizeof now);
                if (cairn_report_monitor_html(&res, now, &page, &err) != CAIRN_OK)
                    rc = cli_fail(&err);
            }
        }
        cairn_monitor_result_reset(&res);
    } else if (cairn_report_run(h, a->pos[0], threads, &page, &err) != CAIRN_OK) {
        rc = cli_fail(&err);
    }
    cairn_home_close(h);
    if (rc == 0)
        rc = write_page(a, out, &page);
    cairn_buf_reset(&page);
    return rc;
}
