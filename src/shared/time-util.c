/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "macro.h"
#include "time-util.h"

usec_t timespec_load(const struct timespec *ts) {
        return (usec_t) ts->tv_sec * USEC_PER_SEC + (usec_t) ts->tv_nsec / NSEC_PER_USEC;
}

usec_t now(clockid_t clock) {
        struct timespec ts;

        assert(clock_gettime(clock, &ts) == 0);
        return timespec_load(&ts);
}

char *format_timespan(char *buf, size_t size, usec_t t) {
        if (t == USEC_INFINITY)
                snprintf(buf, size, "infinity");
        else if (t >= USEC_PER_MINUTE)
                snprintf(buf, size, "%.1fmin", (double) t / USEC_PER_MINUTE);
        else if (t >= USEC_PER_SEC)
                snprintf(buf, size, "%.2fs", (double) t / USEC_PER_SEC);
        else if (t >= USEC_PER_MSEC)
                snprintf(buf, size, "%.1fms", (double) t / USEC_PER_MSEC);
        else
                snprintf(buf, size, "%" PRIu64 "us", (uint64_t) t);
        return buf;
}

char *format_rate(char *buf, size_t size, uint64_t bytes_per_sec) {
        double bits = (double) bytes_per_sec * 8.0;

        if (bits >= 1e9)
                snprintf(buf, size, "%.2f Gbit/s", bits / 1e9);
        else if (bits >= 1e6)
                snprintf(buf, size, "%.1f Mbit/s", bits / 1e6);
        else if (bits >= 1e3)
                snprintf(buf, size, "%.1f kbit/s", bits / 1e3);
        else
                snprintf(buf, size, "%.0f bit/s", bits);
        return buf;
}

char *format_bytes(char *buf, size_t size, uint64_t bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) bytes;
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", bytes);
        else
                snprintf(buf, size, "%.1f %s", v, units[u]);
        return buf;
}
