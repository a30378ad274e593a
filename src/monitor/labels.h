/*
 * labels.h -- delayed ground truth: `cairn labels add` stores it in the home,
 * the monitor loads it and joins it to the prediction log.
 *
 * A label belongs to no model: it is what really happened to one request (key
 * kind "request": the request id the server replied with or the caller gave)
 * or to one entity at one time (key kind "entity": the entity id, and the
 * time the outcome refers to). The join is the monitor's job, at read time,
 * so a label that arrives before its prediction is simply kept and joins on a
 * later run of the monitor:
 *  - request labels join the logged record with that request id (the
 *    non-shadow one; a multi-row request is joined row by row only when the
 *    label file says which row, which it cannot, so every row of a request
 *    gets the request's label);
 *  - entity labels join the latest non-shadow record of that entity whose
 *    time is at or before the label's time.
 *
 * Duplicates. A label is identified by (kind, key) for requests and by
 * (kind, key, time) for entities. Adding one that is already stored with the
 * same value counts it as a duplicate and changes nothing; with another
 * value it replaces the stored value (a corrected label) and is counted as
 * changed. Rows of one file are applied in order, in one transaction.
 *
 * Storage (home schema 4, created by registry/home.c):
 *   labels(kind TEXT CHECK (kind IN ('request','entity')), key TEXT,
 *          ktime INTEGER,        -- time_us for entities, 0 for requests (identity only)
 *          time_us INTEGER,      -- entity: the label's time; request: the --time value
 *                                -- when given, else 0
 *          value TEXT,           -- as written in the file (JSON numbers keep their text)
 *          added_at TEXT, source TEXT,   -- when and from which file (last correction)
 *          PRIMARY KEY (kind, key, ktime)) WITHOUT ROWID
 *   index labels_by_added(added_at)
 * Rows with an empty or NA key, label or time are skipped (counted, first line kept).
 */
#ifndef CAIRN_MONITOR_LABELS_H
#define CAIRN_MONITOR_LABELS_H

#include "cairn.h"
#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cairn_labels_add_opts {
    const char *path;           /* CSV or JSON Lines (by extension, or format) */
    const char *format;         /* NULL: by extension; "csv" | "jsonl" */
    const char *key;            /* "request_id" for request labels, else the entity column */
    const char *label;          /* the label column */
    const char *time;           /* the time column (ISO 8601 or seconds since the epoch);
                                   required for entity keys, optional for request ids */
} cairn_labels_add_opts;

typedef struct cairn_labels_add_result {
    uint64_t rows;              /* data rows read */
    uint64_t added;             /* new labels stored */
    uint64_t duplicates;        /* already stored with the same value: nothing changed */
    uint64_t changed;           /* already stored with another value: replaced */
    uint64_t skipped;           /* rows with a missing key, label or time (reported, not stored) */
    uint64_t first_skipped_line;/* the file line of the first skipped row (0: none) */
    uint64_t total;             /* labels in the home after the call */
} cairn_labels_add_result;

/*
 * Reads the file and stores its labels in one transaction (all or nothing).
 * Errors: CAIRN_EINPUT (unreadable file, a missing column, a time that does not
 * parse: where = "FILE:LINE"), CAIRN_EINVAL (bad options), CAIRN_EIO.
 */
cairn_status cairn_labels_add(cairn_home *h, const cairn_labels_add_opts *o,
                              cairn_labels_add_result *out, cairn_error *err);

/* One stored label. */
typedef struct cairn_label {
    const char *key;            /* request id or entity id, NUL-terminated */
    int64_t time_us;            /* see the schema above */
    const char *value;          /* NUL-terminated */
    bool by_entity;
} cairn_label;

/* Every stored label, indexed for the join. */
typedef struct cairn_labels cairn_labels;

/* Loads all labels. Errors: CAIRN_EIO, CAIRN_ENOMEM. */
cairn_status cairn_labels_load(cairn_home *h, cairn_labels **out, cairn_error *err);
void cairn_labels_free(cairn_labels *l);     /* accepts NULL */

size_t cairn_labels_count(const cairn_labels *l);
/* Label i, 0 <= i < count. Entity labels of one entity have consecutive indices,
 * in increasing time. */
const cairn_label *cairn_labels_get(const cairn_labels *l, size_t i);

/* The index of the request label with this id (len bytes), or SIZE_MAX. */
size_t cairn_labels_find_request(const cairn_labels *l, const char *id, size_t len);
/* The labels of this entity (len bytes): returns how many, their first index in *first. */
size_t cairn_labels_find_entity(const cairn_labels *l, const char *entity, size_t len,
                                size_t *first);

/* Counts for `cairn labels stats`. */
typedef struct cairn_labels_summary {
    uint64_t request_labels, entity_labels, entities;
    int64_t first_time_us, last_time_us;   /* over entity labels; 0 when none */
    char last_added_at[32];                /* ISO 8601; "" when none */
} cairn_labels_summary;

cairn_status cairn_labels_summarize(cairn_home *h, cairn_labels_summary *out, cairn_error *err);

#endif /* CAIRN_MONITOR_LABELS_H */
