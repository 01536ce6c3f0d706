/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)

usec_t timespec_load(const struct timespec *ts);
/* The current time on the given clock, in µs. Pure layers never call this: they take `now`. */
usec_t now(clockid_t clock);

/* "1.5s", "250ms", "3min"... into buf; returns buf. */
char *format_timespan(char *buf, size_t size, usec_t t);
/* "12.3 Mbit/s" style from bytes/s. */
char *format_rate(char *buf, size_t size, uint64_t bytes_per_sec);
/* "1.2 MiB". */
char *format_bytes(char *buf, size_t size, uint64_t bytes);
