/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "daemon-util.h"
#include "time-util.h"

_printf_(2, 0) static int notify_v(const char *prefix, const char *fmt, va_list ap) {
        _cleanup_(freep) char *status = NULL, *msg = NULL;

        if (vasprintf(&status, fmt, ap) < 0)
                return -ENOMEM;
        if (asprintf(&msg, "%sSTATUS=%s", prefix, status) < 0)
                return -ENOMEM;
        return sd_notify(false, msg);
}

int notify_ready(void) {
        return sd_notify(false, "READY=1");
}

int notify_ready_status(const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = notify_v("READY=1\n", fmt, ap);
        va_end(ap);
        return r;
}

int notify_status(const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = notify_v("", fmt, ap);
        va_end(ap);
        return r;
}

int notify_reloading(void) {
        /* MONOTONIC_USEC= lets newer service managers (≥ 253) match the reload; 252 ignores it. */
        return sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration...\nMONOTONIC_USEC=%llu",
                          (unsigned long long) now(CLOCK_MONOTONIC));
}

int notify_stopping(void) {
        return sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
}

int notify_errno(int error) {
        return sd_notifyf(false, "ERRNO=%i", abs(error));
}

int daemon_watchdog_enable(sd_event *event) {
        assert_return(event, -EINVAL);
        return sd_event_set_watchdog(event, true);
}

int daemon_resolve_dirs(const char *config_arg, const char *state_arg, const char *runtime_arg,
                        char **ret_config, char **ret_state, char **ret_runtime) {
        _cleanup_(freep) char *c = NULL, *s = NULL, *r = NULL;

        if (daemon_resolve_dir(config_arg, "FLUXIFY_CONFIG_DIR", FLUXIFY_CONFIG_DIR, &c) < 0 ||
            daemon_resolve_dir(state_arg, "FLUXIFY_STATE_DIR", FLUXIFY_STATE_DIR, &s) < 0 ||
            daemon_resolve_dir(runtime_arg, "FLUXIFY_RUNTIME_DIR", FLUXIFY_RUNTIME_DIR, &r) < 0)
                return -EINVAL;
        *ret_config = TAKE_PTR(c);
        *ret_state = TAKE_PTR(s);
        *ret_runtime = TAKE_PTR(r);
        return 0;
}

int daemon_resolve_dir(const char *arg, const char *env_name, const char *fallback, char **ret) {
        const char *v = arg;
        char *s;

        assert_return(ret, -EINVAL);

        if (isempty(v) && env_name)
                v = getenv(env_name);
        if (isempty(v))
                v = fallback;
        if (isempty(v) || v[0] != '/')
                return -EINVAL;
        s = strdup(v);
        if (!s)
                return -ENOMEM;
        /* Drop trailing slashes (but keep "/"). */
        for (size_t n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
                s[n - 1] = '\0';
        *ret = s;
        return 0;
}
