/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays every file of a corpus directory through a libFuzzer harness, for builds without
 * libFuzzer: the corpus becomes a regression test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "fd-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[]) {
        unsigned n = 0;

        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                struct dirent *de;

                if (!d) {
                        fprintf(stderr, "Cannot open corpus %s: %m\n", argv[i]);
                        return EXIT_FAILURE;
                }
                while ((de = readdir(d))) {
                        _cleanup_(freep) char *path = NULL, *buf = NULL;
                        size_t size;

                        if (de->d_name[0] == '.')
                                continue;
                        if (asprintf(&path, "%s/%s", argv[i], de->d_name) < 0)
                                return EXIT_FAILURE;
                        if (read_full_file(path, 1 << 20, &buf, &size) < 0)
                                continue;
                        (void) LLVMFuzzerTestOneInput((const uint8_t *) buf, size);
                        n++;
                }
                closedir(d);
        }
        printf("%u inputs replayed.\n", n);
        return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
