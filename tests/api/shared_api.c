/*
 * shared_api.c -- the public API used the way an embedding C program uses it:
 * only <cairn.h>, linked against the shared library. Creates a home, adds a
 * dataset, looks it up, loads a contract and validates rows. Also proves the
 * shared library exports every function this program calls.
 */
#include "cairn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

int main(void)
{
    char dir[4096];
    const char *tmp = getenv("CAIRN_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/api-%d", tmp ? tmp : "/tmp", (int)getpid());
    CHECK(strcmp(cairn_version(), "0.1.0") == 0);
    CHECK(cairn_status_exit_code(CAIRN_EINPUT) == 3);
    CHECK(cairn_status_http(CAIRN_ENOTFOUND) == 404);
    CHECK(strcmp(cairn_status_name(CAIRN_ECHECK), "ECHECK") == 0);
    CHECK(strcmp(cairn_type_name(CAIRN_TYPE_TIMESTAMP), "timestamp") == 0);

    cairn_error err = {0};
    cairn_home *home = NULL;
    CHECK(cairn_home_open(dir, &home, &err) == CAIRN_ENOTFOUND && home == NULL);
    CHECK(cairn_home_init(dir, &err) == CAIRN_OK);
    CHECK(cairn_home_open(dir, &home, &err) == CAIRN_OK && home != NULL);

    char csv[4200], yaml[4200];
    snprintf(csv, sizeof csv, "%s/in.csv", dir);
    snprintf(yaml, sizeof yaml, "%s/c.yaml", dir);
    FILE *f = fopen(csv, "w");
    fputs("id,tenure,plan\n1,3,basic\n2,10,premium\n3,,basic\n", f);
    fclose(f);
    cairn_read_opts opts;
    cairn_read_opts_init(&opts);
    cairn_dataset_info info;
    CHECK(cairn_dataset_add(home, csv, "api", &opts, &info, &err) == CAIRN_OK);
    CHECK(info.version == 1 && info.n_rows == 3 && info.n_cols == 3 && !info.existed);
    CHECK(strlen(info.hash) == 64);
    cairn_dataset_info again;
    CHECK(cairn_dataset_get(home, "api@1", &again, &err) == CAIRN_OK);
    CHECK(strcmp(again.hash, info.hash) == 0);
    CHECK(cairn_dataset_get(home, "nope", &again, &err) == CAIRN_ENOTFOUND);

    f = fopen(yaml, "w");
    fputs("contract: 1\ncolumns:\n"
          "  - {name: id, type: int64, role: entity}\n"
          "  - {name: tenure, type: int64, min: 0, max: 72, nullable: false}\n"
          "  - {name: plan, type: string, domain: [basic, premium]}\n", f);
    fclose(f);
    cairn_contract *c = NULL;
    CHECK(cairn_contract_load(yaml, &c, &err) == CAIRN_OK);
    if (c) {
        cairn_field good[] = {{.name = "tenure", .kind = CAIRN_VALUE_NUMBER, .num = 12},
                              {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "basic", .str_len = 5}};
        cairn_field bad[] = {{.name = "tenure", .kind = CAIRN_VALUE_NUMBER, .num = -3},
                             {.name = "plan", .kind = CAIRN_VALUE_STRING, .str = "gold", .str_len = 4}};
        cairn_violations v = {0};
        CHECK(cairn_contract_validate_row(c, good, 2, 0, &v, &err) == CAIRN_OK && v.n == 0);
        CHECK(cairn_contract_validate_row(c, bad, 2, 7, &v, &err) == CAIRN_ECHECK);
        CHECK(v.n == 2);
        for (size_t i = 0; i < v.n; i++) {
            CHECK(v.items[i].row == 7);
            CHECK(strcmp(v.items[i].field, "tenure") == 0 || strcmp(v.items[i].field, "plan") == 0);
        }
        cairn_violations_reset(&v);
        cairn_contract_free(c);
    }
    cairn_home_close(home);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "shared API: FAILED" : "shared API: ok");
    return failures ? 1 : 0;
}
