/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "client-conf.h"
#include "conf-parser.h"

/* NULL-terminated, so that they double as config_parse_enum() tables. */
static const char *const client_mode_table[_CLIENT_MODE_MAX + 1] = {
        [CLIENT_MODE_BONDING] = "bonding",
        [CLIENT_MODE_LOAD_BALANCE] = "load-balance",
};
DEFINE_STRING_TABLE(client_mode, ClientMode, _CLIENT_MODE_MAX);

static const char *const client_scheduler_table[_CLIENT_SCHEDULER_MAX + 1] = {
        [CLIENT_SCHEDULER_WEIGHTED] = "weighted",
        [CLIENT_SCHEDULER_FLOW] = "flow",
        [CLIENT_SCHEDULER_LOWEST_RTT] = "lowest-rtt",
        [CLIENT_SCHEDULER_REDUNDANT] = "redundant",
};
DEFINE_STRING_TABLE(client_scheduler, ClientScheduler, _CLIENT_SCHEDULER_MAX);

static const char *const client_priority_table[_CLIENT_PRIORITY_MAX + 1] = {
        [CLIENT_PRIORITY_PRIMARY] = "primary",
        [CLIENT_PRIORITY_BACKUP] = "backup",
};
DEFINE_STRING_TABLE(client_priority, ClientPriority, _CLIENT_PRIORITY_MAX);

void client_config_init(ClientConfig *c) {
        *c = (ClientConfig) {
                .mode = CLIENT_MODE_BONDING,
                .scheduler = CLIENT_SCHEDULER_WEIGHTED,
                .default_route = true,
                .protocol = 2,
        };
}

void client_config_done(ClientConfig *c) {
        if (!c)
                return;
        free(c->server);
        strv_free(c->interfaces);
        free(c->bundle);
        for (size_t i = 0; i < c->n_iface_configs; i++)
                free(c->iface_configs[i].name);
        free(c->iface_configs);
        client_config_init(c);
}

static int interface_section_open(ConfigContext *ctx, const char *arg, void *userdata, void **ret_data) {
        ClientConfig *c = userdata;
        InterfaceConfig *n;

        if (!ifname_is_valid(arg))
                return config_error(ctx, EINVAL, "'%s' is not a valid interface name.", arg);
        for (size_t i = 0; i < c->n_iface_configs; i++)
                if (streq(c->iface_configs[i].name, arg)) {
                        *ret_data = &c->iface_configs[i];
                        return 0;
                }

        n = reallocarray(c->iface_configs, c->n_iface_configs + 1, sizeof(InterfaceConfig));
        if (!n)
                return config_error(ctx, ENOMEM, "Out of memory.");
        c->iface_configs = n;
        n = &c->iface_configs[c->n_iface_configs];
        *n = (InterfaceConfig) { .name = strdup(arg), .priority = CLIENT_PRIORITY_PRIMARY, .weight = 1.0 };
        if (!n->name)
                return config_error(ctx, ENOMEM, "Out of memory.");
        c->n_iface_configs++;
        *ret_data = n;
        return 0;
}

static int parse_server(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        _cleanup_(freep) char *host = NULL;
        uint16_t port;

        if (!isempty(rvalue) && client_server_split(rvalue, &host, &port) < 0)
                return config_error(ctx, EINVAL, "%s=%s is not HOST[:PORT] (IPv6 as [ADDRESS]:PORT).", key, rvalue);
        return config_parse_string(ctx, key, rvalue, data, ltype);
}

static int parse_protocol(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        if (!streq(rvalue, "1") && !streq(rvalue, "2"))
                return config_error(ctx, EINVAL, "%s=%s: expected 1 (legacy servers) or 2.", key, rvalue);
        *(uint32_t *) data = (uint32_t) (rvalue[0] - '0');
        return 0;
}

static int parse_mtu(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        static const ConfigRange range = { CLIENT_MTU_MIN, CLIENT_MTU_MAX };

        if (isempty(rvalue) || streq(rvalue, "auto")) {
                *(uint32_t *) data = 0;
                return 0;
        }
        return config_parse_uint32(ctx, key, rvalue, data, (uintptr_t) &range);
}

static int parse_weight(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype) {
        static const ConfigRange range = { 0, 1000 };
        int r;

        r = config_parse_double(ctx, key, rvalue, data, (uintptr_t) &range);
        if (r < 0)
                return r;
        if (*(double *) data <= 0)
                return config_error(ctx, ERANGE, "%s=%s must be above 0.", key, rvalue);
        return 0;
}

static const ConfigSection client_sections[] = {
        { "Client", NULL },
        { "Interface", interface_section_open },
        {},
};

static const ConfigItem client_items[] = {
        { "Client", "Server", parse_server, 0, offsetof(ClientConfig, server) },
        { "Client", "Mode", config_parse_enum, (uintptr_t) client_mode_table, offsetof(ClientConfig, mode) },
        { "Client", "Interfaces", config_parse_ifname_list, 0, offsetof(ClientConfig, interfaces) },
        { "Client", "Scheduler", config_parse_enum, (uintptr_t) client_scheduler_table, offsetof(ClientConfig, scheduler) },
        { "Client", "Bundle", config_parse_string, 0, offsetof(ClientConfig, bundle) },
        { "Client", "AutoConnect", config_parse_bool, 0, offsetof(ClientConfig, auto_connect) },
        { "Client", "DefaultRoute", config_parse_bool, 0, offsetof(ClientConfig, default_route) },
        { "Client", "MTU", parse_mtu, 0, offsetof(ClientConfig, mtu) },
        { "Client", "Protocol", parse_protocol, 0, offsetof(ClientConfig, protocol) },
        { "Interface", "Priority", config_parse_enum, (uintptr_t) client_priority_table, offsetof(InterfaceConfig, priority) },
        { "Interface", "Weight", parse_weight, 0, offsetof(InterfaceConfig, weight) },
        {},
};

static const ConfigTable client_table = {
        .sections = client_sections,
        .items = client_items,
};

/* Bundle= relative to the profile's directory, so "Bundle=laptop.bundle" works next to the file. */
static int absolutize_bundle(ClientConfig *c, const char *path) {
        const char *slash;
        char *p;

        if (!c->bundle || c->bundle[0] == '/' || !path)
                return 0;
        slash = strrchr(path, '/');
        if (!slash)
                return 0;
        if (asprintf(&p, "%.*s/%s", (int) (slash - path), path, c->bundle) < 0)
                return -ENOMEM;
        free_and_replace(c->bundle, p);
        return 0;
}

int client_config_load(ClientConfig *c, const char *path, char **ret_message) {
        int r;

        r = config_parse_with_dropins(path, CONFIG_PARSE_MAIN_REQUIRED, &client_table, c, ret_message);
        if (r < 0)
                return r;
        return absolutize_bundle(c, path);
}

int client_config_load_buffer(ClientConfig *c, const char *name, const char *text, char **ret_message) {
        return config_parse_buffer(name, text, strlen(text), &client_table, c, ret_message);
}

const InterfaceConfig *client_config_get_interface(const ClientConfig *c, const char *name) {
        for (size_t i = 0; i < c->n_iface_configs; i++)
                if (streq(c->iface_configs[i].name, name))
                        return &c->iface_configs[i];
        return NULL;
}

int client_server_split(const char *s, char **ret_host, uint16_t *ret_port) {
        const char *host, *port = NULL;
        size_t hl;
        char *h;

        if (isempty(s) || strpbrk(s, " \t/"))
                return -EINVAL;
        if (s[0] == '[') {
                const char *e = strchr(s, ']');
                if (!e || e == s + 1)
                        return -EINVAL;
                host = s + 1;
                hl = (size_t) (e - host);
                if (e[1] == ':')
                        port = e + 2;
                else if (e[1] != '\0')
                        return -EINVAL;
        } else {
                const char *colon = strchr(s, ':');
                host = s;
                if (colon && strchr(colon + 1, ':'))
                        hl = strlen(s); /* a bare IPv6 address: no port */
                else {
                        hl = colon ? (size_t) (colon - s) : strlen(s);
                        port = colon ? colon + 1 : NULL;
                }
        }
        /* A DNS name is at most 253 characters (RFC 1035 §2.3.4); addresses are shorter. */
        if (hl == 0 || hl > 253)
                return -EINVAL;

        uint64_t p = CLIENT_CONTROL_PORT_DEFAULT;
        if (port && parse_uint64_range(port, 1, 65535, &p) < 0)
                return -EINVAL;

        h = strndup(host, hl);
        if (!h)
                return -ENOMEM;
        *ret_host = h;
        *ret_port = (uint16_t) p;
        return 0;
}

/* Is the line "Key=..." (after optional blanks) for key? */
static bool line_is_key(const char *line, size_t len, const char *key) {
        size_t kl = strlen(key);

        while (len > 0 && (*line == ' ' || *line == '\t')) {
                line++;
                len--;
        }
        if (len <= kl || strncmp(line, key, kl) != 0)
                return false;
        line += kl;
        len -= kl;
        while (len > 0 && (*line == ' ' || *line == '\t')) {
                line++;
                len--;
        }
        return len > 0 && *line == '=';
}

static bool line_is_section(const char *line, size_t len) {
        while (len > 0 && (*line == ' ' || *line == '\t')) {
                line++;
                len--;
        }
        return len > 0 && *line == '[';
}

static int append_missing(FILE *f, const char *const *keys, const char *const *values, const bool *done) {
        for (size_t i = 0; keys[i]; i++)
                if (!done[i] && values[i])
                        fprintf(f, "%s=%s\n", keys[i], values[i]);
        return 0;
}

static bool line_is_blank_or_comment(const char *line, size_t len) {
        size_t skip = strspn(line, " \t");

        return skip >= len || line[skip] == '#' || line[skip] == ';';
}

int client_config_update_text(const char *text, const char *const *keys, const char *const *values,
                              char **ret) {
        _cleanup_(freep) bool *done = NULL;
        _cleanup_(freep) char *buf = NULL;
        bool in_client = false, seen_client = false;
        size_t n_keys = 0, size = 0;
        /* Blank and comment lines inside [Client] wait (as a span of the input: they are
         * contiguous), so that missing keys go right after the section's last setting rather than
         * after the blank line before the next section. */
        const char *pending = NULL, *p = text ?: "";
        size_t pending_len = 0;
        FILE *f;

        while (keys[n_keys])
                n_keys++;
        done = new0(bool, n_keys + 1);
        if (!done)
                return -ENOMEM;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        while (*p) {
                size_t len = strcspn(p, "\n");
                bool has_nl = p[len] == '\n', drop = false;

                if (line_is_section(p, len)) {
                        if (in_client)
                                append_missing(f, keys, values, done);
                        in_client = strncmp(p + strspn(p, " \t"), "[Client]", 8) == 0;
                        if (in_client && seen_client)
                                for (size_t i = 0; i < n_keys; i++)
                                        done[i] = true; /* a second [Client]: keys already written */
                        seen_client = seen_client || in_client;
                } else if (in_client && line_is_blank_or_comment(p, len)) {
                        if (!pending)
                                pending = p;
                        pending_len = (size_t) (p - pending) + len + 1;
                        p += len + has_nl;
                        continue;
                } else if (in_client)
                        for (size_t i = 0; i < n_keys; i++)
                                if (line_is_key(p, len, keys[i])) {
                                        if (!done[i] && values[i])
                                                fprintf(f, "%s=%s\n", keys[i], values[i]);
                                        done[i] = true;
                                        drop = true;
                                        break;
                                }

                /* What waited goes now (after the missing keys when this line closes [Client]). */
                if (pending) {
                        fwrite(pending, 1, pending_len - 1, f);
                        fputc('\n', f);
                        pending = NULL;
                }
                if (!drop) {
                        fwrite(p, 1, len, f);
                        fputc('\n', f);
                }
                p += len + has_nl;
        }
        if (in_client)
                append_missing(f, keys, values, done);
        if (pending) {
                fwrite(pending, 1, pending_len - 1, f);
                fputc('\n', f);
        }
        if (!seen_client) {
                fputs("[Client]\n", f);
                append_missing(f, keys, values, done);
        }

        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}
