/*
 * embed.c -- scoring with libcairn from another program, through the public
 * header alone.
 *
 *   embed ARTIFACT [NAME=VALUE ...]
 *
 * Opens an artifact file (as written by `cairn export`), prints what the
 * model is, and scores one row made of the NAME=VALUE arguments: "null" is a
 * null, "true"/"false" a boolean, anything that reads entirely as a number a
 * number, and everything else a string (timestamps are ISO 8601 strings).
 * Inputs left out are null. Without arguments it scores a row in which every
 * input is null, which a model with a contract may refuse: the violations are
 * then printed, one per line, and the exit code is 1.
 *
 * Output, one "key: value" per line: model, task, type, artifact, threshold
 * (binary), inputs, then score (%.17g, so it reads back exactly), label and
 * class_index. Errors go to stderr as "embed: error: WHAT (WHERE)" with the
 * library's exit code for the status.
 *
 * Build against the shared library:
 *   cc -I include examples/embed.c -L BUILD_DIR -lcairn -o embed
 */
#include "cairn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads text into a field value; the field borrows text (argv lives long enough). */
static void parse_value(const char *text, cairn_field *f)
{
    char *end = NULL;
    if (!strcmp(text, "null")) {
        f->kind = CAIRN_VALUE_NULL;
    } else if (!strcmp(text, "true") || !strcmp(text, "false")) {
        f->kind = CAIRN_VALUE_BOOL;
        f->b = text[0] == 't';
    } else if (*text && (f->num = strtod(text, &end), *end == '\0')) {
        f->kind = CAIRN_VALUE_NUMBER;
    } else {
        f->kind = CAIRN_VALUE_STRING;
        f->str = text;
        f->str_len = strlen(text);
    }
}

static int fail(const cairn_error *err)
{
    fprintf(stderr, "embed: error: %s (%s)\n", err->msg, err->where);
    return cairn_status_exit_code(err->code);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: embed ARTIFACT [NAME=VALUE ...]\n");
        return 2;
    }
    cairn_error err = {0};
    cairn_model *m = NULL;
    if (cairn_model_open_file(argv[1], &m, &err) != CAIRN_OK)
        return fail(&err);

    cairn_model_meta meta;
    cairn_model_get_meta(m, &meta);
    printf("model: %s\ntask: %s\ntype: %s\nartifact: %s\n", meta.name, meta.task,
           meta.model_type, meta.artifact_hash);
    if (!strcmp(meta.task, "binary"))
        printf("threshold: %.17g\n", meta.threshold);
    printf("inputs:");
    for (size_t i = 0; i < meta.n_inputs; i++)
        printf(" %s", cairn_model_input_name(m, i));
    printf("\n");

    /* The row: one field per NAME=VALUE argument. */
    int rc = 0;
    size_t n = 0;
    cairn_field *fields = calloc((size_t)argc, sizeof *fields);
    char **names = calloc((size_t)argc, sizeof *names);
    if (!fields || !names) {
        fprintf(stderr, "embed: error: out of memory\n");
        rc = 4;
        goto done;
    }
    for (int i = 2; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            fprintf(stderr, "embed: error: expected NAME=VALUE, got '%s'\n", argv[i]);
            rc = 2;
            goto done;
        }
        names[n] = malloc((size_t)(eq - argv[i]) + 1);
        if (!names[n]) {
            rc = 4;
            goto done;
        }
        memcpy(names[n], argv[i], (size_t)(eq - argv[i]));
        names[n][eq - argv[i]] = '\0';
        fields[n].name = names[n];
        parse_value(eq + 1, &fields[n]);
        n++;
    }

    cairn_prediction p;
    cairn_violations v = {0};
    cairn_status st = cairn_model_predict(m, fields, n, 0, &p, &v, &err);
    if (st == CAIRN_ECHECK) {
        for (size_t i = 0; i < v.n; i++)
            printf("violation: %s: %s%s%s\n", v.items[i].field, v.items[i].problem,
                   v.items[i].value[0] ? ": " : "", v.items[i].value);
        rc = cairn_status_exit_code(st);
    } else if (st != CAIRN_OK) {
        rc = fail(&err);
    } else {
        printf("score: %.17g\nlabel: %s\nclass_index: %d\n", p.score,
               p.label ? p.label : "null", p.class_index);
    }
    cairn_violations_reset(&v);
done:
    if (names)
        for (size_t i = 0; i < n; i++)
            free(names[i]);
    free(names);
    free(fields);
    cairn_model_close(m);
    return rc;
}
