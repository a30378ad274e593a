/*
 * test_python.h -- for unit tests that use /usr/bin/python3 (numpy, scipy) as an
 * independent oracle: skips the calling cmocka test, saying why, when the
 * interpreter or one of the modules is missing. Include after <cmocka.h>.
 */
#ifndef CAIRN_TEST_PYTHON_H
#define CAIRN_TEST_PYTHON_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* modules: an import list as Python writes it, e.g. "numpy, scipy". */
#define SKIP_WITHOUT_PYTHON(modules)                                                            \
    do {                                                                                        \
        if (access("/usr/bin/python3", X_OK) != 0) {                                            \
            print_message("skipping: /usr/bin/python3 not found\n");                           \
            skip();                                                                             \
        }                                                                                       \
        if (system("/usr/bin/python3 -c 'import " modules "' >/dev/null 2>&1") != 0) {          \
            print_message("skipping: /usr/bin/python3 cannot import " modules "\n");           \
            skip();                                                                             \
        }                                                                                       \
    } while (0)

#endif /* CAIRN_TEST_PYTHON_H */
