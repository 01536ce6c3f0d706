/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <unistd.h>

#include "macro.h"

/* Close an fd and return -EBADF, so that "fd = safe_close(fd);" leaves the variable empty. */
int safe_close(int fd);

static inline void closep(int *fd) {
        safe_close(*fd);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);

/* Write the whole buffer to path atomically: temporary file in the same directory, fsync, rename,
 * fsync of the directory. The file gets the given mode. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* Read a whole (small) file into a NUL-terminated buffer; fails with -EFBIG above max_size. */
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);

/* mkdir -p with the given mode for every created component. */
int mkdir_p(const char *path, mode_t mode);
