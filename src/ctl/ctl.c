/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc-util.h"
#include "ctl.h"
#include "log.h"

char *arg_profile = NULL;
JsonFormat arg_json = JSON_OFF;
bool arg_legend = true;
char **arg_ifaces = NULL;
char *arg_mode = NULL;
char *arg_server = NULL;
char *arg_scheduler = NULL;
bool arg_save = false;
unsigned arg_days = 0;
char *arg_output = NULL;
bool arg_yes = false;
bool arg_no_block = false;

static const char *const json_format_table[_JSON_FORMAT_MAX] = {
        [JSON_OFF] = "off",
        [JSON_SHORT] = "short",
        [JSON_PRETTY] = "pretty",
};

DEFINE_STRING_TABLE(json_format, JsonFormat, _JSON_FORMAT_MAX);

void ctl_args_free(void) {
        arg_profile = mfree(arg_profile);
        strv_freep(&arg_ifaces);
        arg_ifaces = NULL;
        arg_mode = mfree(arg_mode);
        arg_server = mfree(arg_server);
        arg_scheduler = mfree(arg_scheduler);
        arg_output = mfree(arg_output);
}

int ctl_usage_error(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CTL_EXIT_USAGE;
}

bool ctl_use_color(void) {
        const char *t;

        if (getenv("NO_COLOR"))
                return false;
        t = getenv("TERM");
        if (t && streq(t, "dumb"))
                return false;
        return isatty(STDOUT_FILENO);
}

int ctl_json_print(json_t *j) {
        size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;

        flags |= arg_json == JSON_PRETTY ? JSON_INDENT(2) : JSON_COMPACT;
        if (json_dumpf(j, stdout, flags) < 0)
                return log_error_errno(EIO, "Failed to write JSON output.");
        fputc('\n', stdout);
        return fflush(stdout) == 0 ? 0 : -errno;
}

int ctl_split_list(const char *s, char ***ret) {
        char **v = NULL;
        size_t n = 0;
        const char *p = s;

        for (;;) {
                size_t l = strcspn(p, ",");
                char **nv;

                if (l == 0) {
                        strv_freep(&v);
                        return -EINVAL;
                }
                nv = reallocarray(v, n + 2, sizeof(char *));
                if (!nv) {
                        strv_freep(&v);
                        return -ENOMEM;
                }
                v = nv;
                v[n] = strndup(p, l);
                if (!v[n]) {
                        strv_freep(&v);
                        return -ENOMEM;
                }
                v[++n] = NULL;
                if (p[l] == '\0')
                        break;
                p += l + 1;
        }

        *ret = v;
        return 0;
}
