/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

/* Where log lines go. LOG_TARGET_AUTO picks the journal's native protocol when stderr is connected
 * to the journal (JOURNAL_STREAM matches), plain text on a TTY, and "<N>"-prefixed lines otherwise
 * (which the journal and most supervisors understand). */
typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_KMSG_PREFIX, /* "<N>message" on stderr */
        LOG_TARGET_CONSOLE,     /* plain text on stderr */
        _LOG_TARGET_MAX,
} LogTarget;

void log_open(void);
void log_set_target(LogTarget t);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_set_max_level_from_string(const char *s);
/* Program name used as SYSLOG_IDENTIFIER and prefix. */
void log_set_ident(const char *ident);

/* Logs the message (with %m expanding to strerror(-error)) and returns -abs(error) (or -EIO if 0). */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                               \
        __extension__({                                                                                  \
                int _l = (level), _e = (error);                                                          \
                (log_get_max_level() >= _l) ? log_internal(_l, _e, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                                            : -abs(_e ?: EIO);                                           \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
