/*
 * test_home_fixture.h -- a scratch directory per cmocka test for tests that
 * make homes (test_registry.c, test_runs.c): setup() creates
 * $CAIRN_TEST_TMP/PREFIX-XXXXXX (or under /tmp) with fx->home = DIR/home (not
 * created), teardown() removes the whole tree. Define HOME_FIXTURE_PREFIX
 * before including.
 */
#ifndef CAIRN_TEST_HOME_FIXTURE_H
#define CAIRN_TEST_HOME_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

typedef struct fixture {
    char dir[512];      /* scratch directory */
    char home[600];     /* dir/home */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("CAIRN_TEST_TMP");
    snprintf(fx->dir, sizeof fx->dir, "%s/" HOME_FIXTURE_PREFIX "XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->home, sizeof fx->home, "%s/home", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

#endif /* CAIRN_TEST_HOME_FIXTURE_H */
