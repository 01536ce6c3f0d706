/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "log.h"

/* Every check executable ends with FLUX_CHECK_MAIN(suite_function): one runner, the summary line
 * visible in `meson test -v`, exit status from the failure count. */
#define FLUX_CHECK_MAIN(make_suite)                                                                      \
        int main(void) {                                                                                 \
                SRunner *sr;                                                                             \
                int failed;                                                                              \
                log_open();                                                                              \
                sr = srunner_create(make_suite());                                                       \
                srunner_run_all(sr, CK_NORMAL);                                                          \
                failed = srunner_ntests_failed(sr);                                                      \
                srunner_free(sr);                                                                        \
                return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                        \
        }

/* Path of a file in tests/data/ of the source tree. */
#define TEST_DATA(name) FLUXIFY_SOURCE_ROOT "/tests/data/" name
