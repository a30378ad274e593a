/*
 * cmd_labels.c -- `cairn labels add` and `cairn labels stats`: delayed
 * ground truth into the home (monitor/labels.h does the reading and the
 * storing; the monitor does the join). This file checks the options and
 * prints what happened.
 */
#include "cli/cli.h"
#include "monitor/labels.h"
#include "registry/registry.h"

#include <inttypes.h>
#include <string.h>

int cmd_labels_add(const cli_cmd *cmd, cli_args *a)
{
    const char *path = a->pos[0];
    const char *key = cli_get(cmd, a, "key");
    const char *label = cli_get(cmd, a, "label");
    const char *time = cli_get(cmd, a, "time");
    const char *format = cli_get(cmd, a, "format");
    if (!key || !*key)
        return cli_usage_error(cmd, "--key request_id|COLUMN is required");
    if (!label || !*label)
        return cli_usage_error(cmd, "--label COLUMN is required");
    if (time && !*time)
        return cli_usage_error(cmd, "--time needs a column name");
    if (strcmp(key, "request_id") != 0 && !time)
        return cli_usage_error(cmd, "labels keyed by an entity column ('%s') need --time COLUMN",
                               key);
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0)
        return cli_usage_error(cmd, "--format must be csv or jsonl, not '%s'", format);

    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc != 0)
        return rc;
    cairn_labels_add_opts o = {
        .path = path, .format = format, .key = key, .label = label, .time = time};
    cairn_labels_add_result r;
    cairn_error err = {0};
    cairn_status st = cairn_labels_add(h, &o, &r, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);

    uint64_t stored = r.rows - r.skipped;
    if (r.skipped) {
        if (r.first_skipped_line)
            fprintf(stderr,
                    "cairn: warning: skipped %" PRIu64 " row%s with a missing key, label or time "
                    "(first at %s:%" PRIu64 ")\n",
                    r.skipped, r.skipped == 1 ? "" : "s", path, r.first_skipped_line);
        else
            fprintf(stderr,
                    "cairn: warning: skipped %" PRIu64 " row%s with a missing key, label or time "
                    "(%s)\n",
                    r.skipped, r.skipped == 1 ? "" : "s", path);
    }
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"file\":");
        cli_json_str(&b, path);
        cairn_buf_puts(&b, ",\"kind\":");
        cli_json_str(&b, strcmp(key, "request_id") == 0 ? "request" : "entity");
        cairn_buf_puts(&b, ",\"rows\":");
        cairn_buf_put_json_number(&b, (double)r.rows);
        cairn_buf_puts(&b, ",\"stored\":");
        cairn_buf_put_json_number(&b, (double)stored);
        cairn_buf_puts(&b, ",\"added\":");
        cairn_buf_put_json_number(&b, (double)r.added);
        cairn_buf_puts(&b, ",\"duplicates\":");
        cairn_buf_put_json_number(&b, (double)r.duplicates);
        cairn_buf_puts(&b, ",\"changed\":");
        cairn_buf_put_json_number(&b, (double)r.changed);
        cairn_buf_puts(&b, ",\"skipped\":");
        cairn_buf_put_json_number(&b, (double)r.skipped);
        cairn_buf_puts(&b, ",\"first_skipped_line\":");
        if (r.first_skipped_line)
            cairn_buf_put_json_number(&b, (double)r.first_skipped_line);
        else
            cairn_buf_puts(&b, "null");
        cairn_buf_puts(&b, ",\"total\":");
        cairn_buf_put_json_number(&b, (double)r.total);
        cairn_buf_putc(&b, '}');
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    if (!a->quiet)
        printf("stored %" PRIu64 " label%s from %s: %" PRIu64 " new, %" PRIu64 " duplicate%s, "
               "%" PRIu64 " changed, %" PRIu64 " skipped; %" PRIu64 " in the home\n",
               stored, stored == 1 ? "" : "s", path, r.added, r.duplicates,
               r.duplicates == 1 ? "" : "s", r.changed, r.skipped, r.total);
    return 0;
}

int cmd_labels_stats(const cli_cmd *cmd, cli_args *a)
{
    (void)cmd;
    cairn_home *h = NULL;
    int rc = cli_open_home(a, &h);
    if (rc != 0)
        return rc;
    cairn_labels_summary s;
    cairn_error err = {0};
    cairn_status st = cairn_labels_summarize(h, &s, &err);
    cairn_home_close(h);
    if (st != CAIRN_OK)
        return cli_fail(&err);
    char first[40] = "", last[40] = "";
    if (s.entity_labels) {
        cairn_fmt_timestamp(first, sizeof first, s.first_time_us);
        cairn_fmt_timestamp(last, sizeof last, s.last_time_us);
    }
    uint64_t total = s.request_labels + s.entity_labels;
    if (a->json) {
        cairn_buf b;
        cairn_buf_init(&b);
        cairn_buf_puts(&b, "{\"total\":");
        cairn_buf_put_json_number(&b, (double)total);
        cairn_buf_puts(&b, ",\"request_labels\":");
        cairn_buf_put_json_number(&b, (double)s.request_labels);
        cairn_buf_puts(&b, ",\"entity_labels\":");
        cairn_buf_put_json_number(&b, (double)s.entity_labels);
        cairn_buf_puts(&b, ",\"entities\":");
        cairn_buf_put_json_number(&b, (double)s.entities);
        cairn_buf_puts(&b, ",\"first_time\":");
        cli_json_str(&b, s.entity_labels ? first : NULL);
        cairn_buf_puts(&b, ",\"last_time\":");
        cli_json_str(&b, s.entity_labels ? last : NULL);
        cairn_buf_puts(&b, ",\"last_added_at\":");
        cli_json_str(&b, s.last_added_at[0] ? s.last_added_at : NULL);
        cairn_buf_putc(&b, '}');
        rc = cli_emit_json(&b);
        cairn_buf_reset(&b);
        return rc;
    }
    char n_total[32], n_req[32], n_ent[32], n_entities[32];
    cli_fmt_count(n_total, sizeof n_total, total);
    cli_fmt_count(n_req, sizeof n_req, s.request_labels);
    cli_fmt_count(n_ent, sizeof n_ent, s.entity_labels);
    cli_fmt_count(n_entities, sizeof n_entities, s.entities);
    printf("labels:          %s\n", n_total);
    printf("by request id:   %s\n", n_req);
    printf("by entity:       %s (%s entit%s)\n", n_ent, n_entities,
           s.entities == 1 ? "y" : "ies");
    if (s.entity_labels)
        printf("entity times:    %s .. %s\n", first, last);
    printf("last added:      %s\n", s.last_added_at[0] ? s.last_added_at : "never");
    return 0;
}
