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
    if ((rc = cli_opt_threads(cmd, a, &threads)))
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
        if ((rc = cli_monitor_opts(cmd, a, h, a->pos[1], 86400LL * 1000000LL, &o)) == 0) {
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
