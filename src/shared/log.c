/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static LogTarget resolved_target = LOG_TARGET_KMSG_PREFIX;
static const char *ident = NULL;

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_open(void) {
        const char *e;

        if (target == LOG_TARGET_AUTO) {
                if (stderr_is_journal())
                        resolved_target = LOG_TARGET_JOURNAL;
                else if (isatty(STDERR_FILENO))
                        resolved_target = LOG_TARGET_CONSOLE;
                else
                        resolved_target = LOG_TARGET_KMSG_PREFIX;
        } else
                resolved_target = target;

        e = getenv("FLUXIFY_LOG_LEVEL") ?: getenv("SYSTEMD_LOG_LEVEL");
        if (e)
                (void) log_set_max_level_from_string(e);
}

void log_set_target(LogTarget t) {
        target = t;
        log_open();
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_set_max_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]) || (i == LOG_ERR && streq(s, "error"))) {
                        max_level = (int) i;
                        return 0;
                }
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0') {
                max_level = s[0] - '0';
                return 0;
        }
        return -EINVAL;
}

void log_set_ident(const char *i) {
        ident = i;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        /* Make %m print the error we were given, not whatever errno happens to hold. */
        errno = error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        switch (resolved_target) {
        case LOG_TARGET_JOURNAL:
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "CODE_FILE=%s", file,
                                "CODE_LINE=%i", line, "CODE_FUNC=%s", func, "SYSLOG_IDENTIFIER=%s",
                                ident ?: program_invocation_short_name, error > 0 ? "ERRNO=%i" : NULL,
                                error, NULL);
                break;
        case LOG_TARGET_CONSOLE:
                fprintf(stderr, "%s\n", buf);
                break;
        default:
                fprintf(stderr, "<%i>%s\n", level, buf);
                break;
        }

        errno = saved;
        return -(error ?: EIO);
}
