/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include <ini.h>

#include "alloc-util.h"
#include "conf-parser.h"
#include "fd-util.h"

struct ConfigContext {
        const ConfigTable *table;
        void *userdata;
        const char *filename;

        /* Reader state: inih pulls one line at a time through config_reader(), so the line the
         * handler sees is always the last one handed out. */
        const char *next;
        const char *end;
        unsigned line;

        /* The section currently open (set by the reader when it hands out a header line). */
        const ConfigSection *section;
        char *section_name; /* with argument, for messages */
        void *section_data;

        int error;
        char *message; /* "file:line: message" of the first error */
};

int config_error(ConfigContext *ctx, int r, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;
        int k;

        r = -abs(r ?: EINVAL);
        if (ctx->error < 0) /* the first error wins */
                return r;
        ctx->error = r;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0) {
                msg = NULL;
                return r;
        }
        if (ctx->line > 0)
                k = asprintf(&ctx->message, "%s:%u: %s", ctx->filename, ctx->line, msg);
        else
                k = asprintf(&ctx->message, "%s: %s", ctx->filename, msg);
        if (k < 0)
                ctx->message = NULL;
        return r;
}

const char *config_context_filename(const ConfigContext *ctx) {
        return ctx->filename;
}

unsigned config_context_line(const ConfigContext *ctx) {
        return ctx->line;
}

static char *strstrip_inplace(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

static bool string_has_cc(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < ' ' || *s == 0x7f)
                        return true;
        return false;
}

/* ---- value helpers ---- */

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

int parse_uint64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end = NULL;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        if (ret)
                *ret = v;
        return 0;
}

bool ifname_is_valid(const char *s) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n >= IFNAMSIZ)
                return false;
        if (streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f || *p == '/' || *p == ':' ||
                    *p == '%' || *p == ',')
                        return false;
        return true;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (; *l; l++)
                        if (streq(*l, s))
                                return true;
        return false;
}

void strv_free(char **l) {
        strv_freep(&l);
}

/* ---- typed parsers ---- */

int config_parse_string(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        char **s = data;

        if (string_has_cc(rvalue))
                return config_error(ctx, EINVAL, "%s= contains control characters.", key);
        if (free_and_strdup(s, isempty(rvalue) ? NULL : rvalue) < 0)
                return config_error(ctx, ENOMEM, "Out of memory.");
        return 0;
}

int config_parse_ifname(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        char **s = data;

        if (!isempty(rvalue) && !ifname_is_valid(rvalue))
                return config_error(ctx, EINVAL, "%s=%s is not a valid interface name.", key, rvalue);
        if (free_and_strdup(s, isempty(rvalue) ? NULL : rvalue) < 0)
                return config_error(ctx, ENOMEM, "Out of memory.");
        return 0;
}

int config_parse_bool(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        bool *b = data;
        int r;

        r = parse_boolean(rvalue);
        if (r < 0)
                return config_error(ctx, r, "%s=%s is not a boolean (yes/no).", key, rvalue);
        *b = r;
        return 0;
}

static int parse_ranged(ConfigContext *ctx, const char *key, const char *rvalue, uintptr_t ltype, uint64_t tmin,
                        uint64_t tmax, uint64_t *ret) {
        const ConfigRange *range = (const ConfigRange *) ltype;
        uint64_t lo = range ? range->min : tmin, hi = range ? MIN(range->max, tmax) : tmax;
        int r;

        r = parse_uint64_range(rvalue, lo, hi, ret);
        if (r == -ERANGE)
                return config_error(ctx, r, "%s=%s is out of range %" PRIu64 "…%" PRIu64 ".", key, rvalue, lo, hi);
        if (r < 0)
                return config_error(ctx, r, "%s=%s is not an unsigned integer.", key, rvalue);
        return 0;
}

int config_parse_port(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        uint16_t *p = data;
        uint64_t v;
        int r;

        r = parse_uint64_range(rvalue, 1, UINT16_MAX, &v);
        if (r < 0)
                return config_error(ctx, r, "%s=%s is not a valid port (1…65535).", key, rvalue);
        *p = (uint16_t) v;
        return 0;
}

int config_parse_uint16(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        uint64_t v;
        int r;

        r = parse_ranged(ctx, key, rvalue, ltype, 0, UINT16_MAX, &v);
        if (r < 0)
                return r;
        *(uint16_t *) data = (uint16_t) v;
        return 0;
}

int config_parse_uint32(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        uint64_t v;
        int r;

        r = parse_ranged(ctx, key, rvalue, ltype, 0, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *(uint32_t *) data = (uint32_t) v;
        return 0;
}

/* ltype: (const ConfigRange *) with min/max as whole numbers, or 0 for any finite value >= 0. */
int config_parse_double(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        const ConfigRange *range = (const ConfigRange *) ltype;
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(rvalue, &end);
        if (isempty(rvalue) || errno != 0 || !end || *end != '\0' || !isfinite(v) || v < 0)
                return config_error(ctx, EINVAL, "%s=%s is not a non-negative number.", key, rvalue);
        if (range && (v < (double) range->min || v > (double) range->max))
                return config_error(ctx, ERANGE, "%s=%s is out of range %" PRIu64 "…%" PRIu64 ".", key, rvalue,
                                    range->min, range->max);
        *(double *) data = v;
        return 0;
}

static const char *family_name(int family) {
        return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "IP";
}

int config_parse_address(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        ConfigAddress *a = data, n = {};
        int family = (int) ltype, r;

        if (isempty(rvalue)) {
                *a = (ConfigAddress) { .family = AF_UNSPEC };
                return 0;
        }
        if (family == AF_UNSPEC)
                r = in_addr_from_string_auto(rvalue, &n.family, &n.addr);
        else {
                r = in_addr_from_string(family, rvalue, &n.addr);
                n.family = family;
        }
        if (r < 0)
                return config_error(ctx, r, "%s=%s is not a valid %s address.", key, rvalue, family_name(family));
        n.prefixlen = n.family == AF_INET ? 32 : 128;
        *a = n;
        return 0;
}

int config_parse_address_prefix(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                                uintptr_t ltype) {
        ConfigAddress *a = data, n = {};
        int family = (int) ltype, r;

        if (isempty(rvalue)) {
                *a = (ConfigAddress) { .family = AF_UNSPEC };
                return 0;
        }
        r = in_addr_prefix_from_string(rvalue, false, &n.family, &n.addr, &n.prefixlen);
        if (r < 0 || (family != AF_UNSPEC && n.family != family))
                return config_error(ctx, r < 0 ? r : EAFNOSUPPORT,
                                    "%s=%s is not a valid %s address with prefix length (e.g. %s).", key,
                                    rvalue, family_name(family),
                                    family == AF_INET6 ? "fd00:8::1/64" : "10.8.0.1/24");
        *a = n;
        return 0;
}

static int strv_extend_words(ConfigContext *ctx, const char *key, const char *rvalue, char ***l, bool ifnames) {
        _cleanup_(freep) char *copy = NULL;
        char *state = NULL;

        if (isempty(rvalue)) {
                strv_freep(l);
                *l = NULL;
                return 0;
        }
        if (string_has_cc(rvalue))
                return config_error(ctx, EINVAL, "%s= contains control characters.", key);
        copy = strdup(rvalue);
        if (!copy)
                return config_error(ctx, ENOMEM, "Out of memory.");

        for (char *w = strtok_r(copy, ", \t", &state); w; w = strtok_r(NULL, ", \t", &state)) {
                size_t n = strv_length(*l);
                char **nl;

                if (ifnames && !ifname_is_valid(w))
                        return config_error(ctx, EINVAL, "%s=: '%s' is not a valid interface name.", key, w);
                if (strv_contains(*l, w))
                        return config_error(ctx, EEXIST, "%s=: '%s' is listed twice.", key, w);
                if (n >= 1024)
                        return config_error(ctx, E2BIG, "%s=: too many entries.", key);
                nl = realloc(*l, (n + 2) * sizeof(char *));
                if (!nl)
                        return config_error(ctx, ENOMEM, "Out of memory.");
                *l = nl;
                nl[n] = strdup(w);
                nl[n + 1] = NULL;
                if (!nl[n])
                        return config_error(ctx, ENOMEM, "Out of memory.");
        }
        return 0;
}

int config_parse_strv(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        return strv_extend_words(ctx, key, rvalue, data, false);
}

int config_parse_ifname_list(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                             uintptr_t ltype) {
        return strv_extend_words(ctx, key, rvalue, data, true);
}

int config_parse_enum(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        const char *const *names = (const char *const *) ltype;
        char choices[256] = "";
        size_t len = 0;

        assert(names);
        for (size_t i = 0; names[i]; i++)
                if (streq(names[i], rvalue)) {
                        *(int *) data = (int) i;
                        return 0;
                }
        for (size_t i = 0; names[i] && len < sizeof(choices); i++) {
                int k = snprintf(choices + len, sizeof(choices) - len, "%s%s", i > 0 ? ", " : "", names[i]);
                if (k < 0)
                        break;
                len += (size_t) k;
        }
        return config_error(ctx, EINVAL, "%s=%s is not one of: %s.", key, rvalue, choices);
}

/* ---- the inih glue ---- */

static const ConfigSection *table_find_section(const ConfigTable *t, const char *name) {
        for (const ConfigSection *s = t->sections; s && s->name; s++)
                if (streq(s->name, name))
                        return s;
        return NULL;
}

static const ConfigItem *table_find_item(const ConfigTable *t, const char *section, const char *key) {
        for (const ConfigItem *i = t->items; i && i->section; i++)
                if (streq(i->section, section) && streq(i->key, key))
                        return i;
        return NULL;
}

/* Called by the reader for a line "[...]": open the section it names. */
static int context_open_section(ConfigContext *ctx, char *header) {
        _cleanup_(freep) char *full = NULL;
        char *name, *arg, *close_bracket;
        const ConfigSection *s;
        void *data = ctx->userdata;
        int r;

        close_bracket = strchr(header, ']');
        if (!close_bracket || !isempty(strstrip_inplace(close_bracket + 1)))
                return config_error(ctx, EBADMSG, "Invalid section header '%s'.", header);
        *close_bracket = '\0';
        full = strdup(strstrip_inplace(header + 1));
        if (!full)
                return config_error(ctx, ENOMEM, "Out of memory.");

        name = strstrip_inplace(header + 1);
        arg = name + strcspn(name, " \t");
        if (*arg) {
                *arg++ = '\0';
                arg = strstrip_inplace(arg);
        }
        if (isempty(name))
                return config_error(ctx, EBADMSG, "Empty section name.");

        s = table_find_section(ctx->table, name);
        if (!s)
                return config_error(ctx, EBADMSG, "Unknown section [%s].", name);
        if (!s->open && !isempty(arg))
                return config_error(ctx, EBADMSG, "Section [%s] takes no argument.", name);
        if (s->open) {
                if (isempty(arg))
                        return config_error(ctx, EBADMSG, "Section [%s] needs an argument, e.g. [%s NAME].",
                                            name, name);
                r = s->open(ctx, arg, ctx->userdata, &data);
                if (r < 0)
                        return config_error(ctx, r, "Invalid section [%s %s].", name, arg);
        }

        ctx->section = s;
        ctx->section_data = data;
        free_and_replace(ctx->section_name, full);
        return 0;
}

/* fgets()-style reader for ini_parse_stream(). Leading whitespace is removed so that inih never
 * treats a line as a continuation; section headers are handled here so that empty and unknown
 * sections are caught with their line number. Returning NULL ends parsing (EOF or error). */
static char *config_reader(char *buf, int num, void *stream) {
        ConfigContext *ctx = stream;
        const char *nl, *start;
        size_t len;
        char *line;

        if (ctx->error < 0 || ctx->next >= ctx->end)
                return NULL;

        ctx->line++;
        start = ctx->next;
        nl = memchr(start, '\n', (size_t) (ctx->end - start));
        len = nl ? (size_t) (nl - start) : (size_t) (ctx->end - start);
        ctx->next = nl ? nl + 1 : ctx->end;

        if (num < 3 || len > CONFIG_LINE_MAX || len + 2 > (size_t) num) {
                (void) config_error(ctx, E2BIG, "Line too long (at most %u bytes).", CONFIG_LINE_MAX);
                return NULL;
        }
        if (memchr(start, '\0', len)) {
                (void) config_error(ctx, EBADMSG, "Line contains a NUL byte.");
                return NULL;
        }
        if (ctx->line == 1 && len >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0) {
                /* UTF-8 byte order mark */
                start += 3;
                len -= 3;
        }
        memcpy(buf, start, len);
        buf[len] = '\0';

        line = strstrip_inplace(buf);
        if (line[0] == '[') {
                if (context_open_section(ctx, line) < 0)
                        return NULL;
                /* Hand inih a comment instead: we own section tracking. */
                strcpy(buf, "#\n");
                return buf;
        }
        if (line[0] != '\0' && line[0] != '#' && line[0] != ';') {
                /* inih would also take "Key: Value" and bare words; we want Key=Value only. */
                size_t k = strcspn(line, "=");
                if (line[k] != '=' || memchr(line, ':', k) || k == 0) {
                        (void) config_error(ctx, EBADMSG, "Syntax error (expected Key=Value, [Section] or a comment).");
                        return NULL;
                }
        }
        memmove(buf, line, strlen(line) + 1);
        strcat(buf, "\n");
        return buf;
}

static int config_handler(void *user, const char *section_unused, const char *name, const char *value) {
        ConfigContext *ctx = user;
        const ConfigItem *item;
        _cleanup_(freep) char *v = NULL;

        if (ctx->error < 0)
                return 0;
        if (!ctx->section) {
                (void) config_error(ctx, EBADMSG, "Assignment outside of a section: %s.", name);
                return 0;
        }
        if (!value) { /* only with ini_allow_no_value */
                (void) config_error(ctx, EBADMSG, "Missing '=' after %s.", name);
                return 0;
        }
        item = table_find_item(ctx->table, ctx->section->name, name);
        if (!item) {
                (void) config_error(ctx, EBADMSG, "Unknown key %s= in section [%s].", name, ctx->section_name);
                return 0;
        }
        v = strdup(value);
        if (!v) {
                (void) config_error(ctx, ENOMEM, "Out of memory.");
                return 0;
        }
        if (item->parse(ctx, item->key, strstrip_inplace(v), (uint8_t *) ctx->section_data + item->offset,
                        item->ltype) < 0) {
                (void) config_error(ctx, EINVAL, "Invalid value for %s=.", name); /* if the parser did not */
                return 0;
        }
        return 1;
}

int config_parse_buffer(const char *name, const char *text, size_t size, const ConfigTable *table,
                        void *userdata, char **reterr_message) {
        ConfigContext ctx = {
                .table = table,
                .userdata = userdata,
                .filename = name,
                .next = text,
                .end = text + size,
        };
        int r;

        assert_return(name && text && table, -EINVAL);

        r = ini_parse_stream(config_reader, &ctx, config_handler, &ctx);
        if (ctx.error == 0 && r != 0) {
                if (r > 0) {
                        ctx.line = (unsigned) r;
                        (void) config_error(&ctx, EBADMSG, "Syntax error (expected Key=Value, [Section] or a comment).");
                } else
                        (void) config_error(&ctx, ENOMEM, "Out of memory.");
        }

        free(ctx.section_name);
        if (ctx.error < 0) {
                if (reterr_message)
                        *reterr_message = TAKE_PTR(ctx.message);
                free(ctx.message);
                return ctx.error;
        }
        return 0;
}

static int set_message(char **reterr_message, int r, const char *what, const char *path) {
        if (reterr_message) {
                char *m = NULL;
                if (asprintf(&m, "%s: %s: %s", path, what, strerror(-r)) < 0)
                        m = NULL;
                *reterr_message = m;
        }
        return r;
}

int config_parse_file(const char *path, const ConfigTable *table, void *userdata, char **reterr_message) {
        _cleanup_(freep) char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file(path, CONFIG_FILE_MAX, &buf, &size);
        if (r < 0)
                return set_message(reterr_message, r, "Failed to read", path);
        return config_parse_buffer(path, buf, size, table, userdata, reterr_message);
}

static int dropin_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

int config_parse_with_dropins(const char *main_path, ConfigParseFlags flags, const ConfigTable *table,
                              void *userdata, char **reterr_message) {
        _cleanup_(freep) char *dir = NULL;
        struct dirent **list = NULL;
        int r, n;

        assert_return(main_path && table, -EINVAL);

        r = config_parse_file(main_path, table, userdata, reterr_message);
        if (r == -ENOENT && !(flags & CONFIG_PARSE_MAIN_REQUIRED)) {
                if (reterr_message)
                        *reterr_message = mfree(*reterr_message);
        } else if (r < 0)
                return r;

        if (asprintf(&dir, "%s.d", main_path) < 0)
                return -ENOMEM;
        n = scandir(dir, &list, dropin_filter, alphasort);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return set_message(reterr_message, -errno, "Failed to list drop-ins", dir);
        }

        r = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *p = NULL;
                struct stat st;

                if (r >= 0) {
                        if (asprintf(&p, "%s/%s", dir, list[i]->d_name) < 0)
                                r = -ENOMEM;
                        else if (stat(p, &st) < 0)
                                r = set_message(reterr_message, -errno, "Failed to stat", p);
                        else if (S_ISREG(st.st_mode))
                                r = config_parse_file(p, table, userdata, reterr_message);
                }
                free(list[i]);
        }
        free(list);
        return r;
}
