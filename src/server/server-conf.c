/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc-util.h"
#include "server-conf.h"

static const char *const server_compression_table[_SERVER_COMPRESSION_MAX] = {
        [SERVER_COMPRESSION_NO] = "no",
        [SERVER_COMPRESSION_GZIP] = "gzip",
};
DEFINE_STRING_TABLE(server_compression, ServerCompression, _SERVER_COMPRESSION_MAX);

static const char *const server_scheduler_table[_SERVER_SCHEDULER_MAX] = {
        [SERVER_SCHEDULER_WEIGHTED] = "weighted",
        [SERVER_SCHEDULER_FLOW] = "flow",
        [SERVER_SCHEDULER_LOWEST_RTT] = "lowest-rtt",
        [SERVER_SCHEDULER_REDUNDANT] = "redundant",
};
DEFINE_STRING_TABLE(server_scheduler, ServerScheduler, _SERVER_SCHEDULER_MAX);

/* NULL-terminated copies for config_parse_enum(). */
static const char *const compression_names[] = { "no", "gzip", NULL };
static const char *const scheduler_names[] = { "weighted", "flow", "lowest-rtt", "redundant", NULL };

static const ConfigRange mtu_range = { 576, 9000 };
static const ConfigRange max_sessions_range = { 1, 65534 };
static const ConfigRange timeout_range = { 1, 86400 };

/* Listen=: addresses separated by spaces or commas; appends; empty resets to the defaults. */
static int config_parse_listen(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                               uintptr_t ltype) {
        ServerConfig *c = data;
        _cleanup_(freep) char *copy = NULL;
        char *state = NULL;

        if (isempty(rvalue)) {
                c->n_listen = 0;
                c->listen_explicit = false;
                return 0;
        }
        copy = strdup(rvalue);
        if (!copy)
                return config_error(ctx, ENOMEM, "Out of memory.");
        for (char *w = strtok_r(copy, ", \t", &state); w; w = strtok_r(NULL, ", \t", &state)) {
                ConfigAddress a = {};

                if (in_addr_from_string_auto(w, &a.family, &a.addr) < 0)
                        return config_error(ctx, EINVAL, "%s=: '%s' is not an IPv4 or IPv6 address.", key, w);
                for (size_t i = 0; i < c->n_listen; i++)
                        if (c->listen[i].family == a.family &&
                            in_addr_equal(a.family, &c->listen[i].addr, &a.addr))
                                return config_error(ctx, EEXIST, "%s=: '%s' is listed twice.", key, w);
                if (c->n_listen >= SERVER_CONF_LISTEN_MAX)
                        return config_error(ctx, E2BIG, "%s=: at most %u addresses.", key,
                                            SERVER_CONF_LISTEN_MAX);
                a.prefixlen = a.family == AF_INET ? 32 : 128;
                c->listen[c->n_listen++] = a;
        }
        c->listen_explicit = true;
        return 0;
}

/* Each server name is a DNS name or an IP address literal (it becomes a certificate SAN). */
static int config_parse_server_names(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                                     uintptr_t ltype) {
        char ***l = data;
        size_t before = strv_length(*l);
        int r;

        r = config_parse_strv(ctx, key, rvalue, data, 0);
        if (r < 0)
                return r;
        for (size_t i = before; *l && (*l)[i]; i++) {
                const char *n = (*l)[i];
                union in_addr_union a;
                int f;
                bool ok = strlen(n) <= 253;

                if (in_addr_from_string_auto(n, &f, &a) >= 0)
                        continue;
                for (const char *p = n; ok && *p; p++)
                        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                             *p == '-' || *p == '.' || (*p == '*' && p == n && p[1] == '.');
                if (!ok || n[0] == '.' || n[0] == '-' || strstr(n, ".."))
                        return config_error(ctx, EINVAL, "%s=: '%s' is neither a DNS name nor an IP address.",
                                            key, n);
        }
        return 0;
}

#define ITEM(key, parser, ltype, field)                                                                  \
        { "Server", key, parser, (uintptr_t) (ltype), offsetof(ServerConfig, field) }

static const ConfigItem server_config_items[] = {
        ITEM("ControlPort", config_parse_port, 0, control_port),
        ITEM("DataPort", config_parse_port, 0, data_port),
        { "Server", "Listen", config_parse_listen, 0, 0 },
        ITEM("Tunnel", config_parse_ifname, 0, tunnel),
        ITEM("Address", config_parse_address_prefix, AF_INET, address),
        ITEM("Address6", config_parse_address_prefix, AF_INET6, address6),
        ITEM("Pool", config_parse_address_prefix, AF_INET, pool),
        ITEM("Pool6", config_parse_address_prefix, AF_INET6, pool6),
        ITEM("NAT", config_parse_bool, 0, nat),
        ITEM("EgressInterface", config_parse_ifname, 0, egress_interface),
        ITEM("MTU", config_parse_uint32, &mtu_range, mtu),
        ITEM("ServerNames", config_parse_server_names, 0, server_names),
        ITEM("Compression", config_parse_enum, compression_names, compression),
        ITEM("MSSClamp", config_parse_bool, 0, mss_clamp),
        ITEM("ClientToClient", config_parse_bool, 0, client_to_client),
        ITEM("Scheduler", config_parse_enum, scheduler_names, scheduler),
        ITEM("AcceptLegacyClients", config_parse_bool, 0, accept_legacy_clients),
        ITEM("MaxSessions", config_parse_uint32, &max_sessions_range, max_sessions),
        ITEM("ResumeTimeoutSec", config_parse_uint32, &timeout_range, resume_timeout_sec),
        ITEM("LegacyIdleTimeoutSec", config_parse_uint32, &timeout_range, legacy_idle_timeout_sec),
        {},
};

static const ConfigSection server_config_sections[] = {
        { "Server" },
        {},
};

const ConfigTable server_config_table = {
        .sections = server_config_sections,
        .items = server_config_items,
};

int server_config_new(ServerConfig **ret) {
        _cleanup_(server_config_freep) ServerConfig *c = NULL;

        c = new0(ServerConfig, 1);
        if (!c)
                return -ENOMEM;
        *c = (ServerConfig) {
                .control_port = SERVER_CONF_DEFAULT_CONTROL_PORT,
                .data_port = SERVER_CONF_DEFAULT_DATA_PORT,
                .nat = true,
                .mtu = SERVER_CONF_DEFAULT_MTU,
                .compression = SERVER_COMPRESSION_NO,
                .mss_clamp = true,
                .client_to_client = false,
                .scheduler = SERVER_SCHEDULER_WEIGHTED,
                .accept_legacy_clients = false,
                .max_sessions = SERVER_CONF_DEFAULT_MAX_SESSIONS,
                .resume_timeout_sec = SERVER_CONF_DEFAULT_RESUME_TIMEOUT_SEC,
                .legacy_idle_timeout_sec = SERVER_CONF_DEFAULT_LEGACY_IDLE_TIMEOUT_SEC,
        };
        *ret = TAKE_PTR(c);
        return 0;
}

ServerConfig *server_config_free(ServerConfig *c) {
        if (!c)
                return NULL;
        free(c->tunnel);
        free(c->egress_interface);
        strv_free(c->server_names);
        return mfree(c);
}

const char *config_address_to_string(const ConfigAddress *a, char *buf, size_t size) {
        char s[INET6_ADDRSTRLEN];

        if (a->family == AF_UNSPEC || in_addr_to_string(a->family, &a->addr, s, sizeof(s)) < 0)
                snprintf(buf, size, "n/a");
        else
                snprintf(buf, size, "%s/%u", s, a->prefixlen);
        return buf;
}

static int set_message(char **reterr_message, const char *fmt, ...) _printf_(2, 3);
static int set_message(char **reterr_message, const char *fmt, ...) {
        va_list ap;

        if (!reterr_message)
                return -EINVAL;
        va_start(ap, fmt);
        if (vasprintf(reterr_message, fmt, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return -EINVAL;
}

/* Pool and Address of one family: either may be given; the other is derived. The server's address
 * must be the pool's first host (the address pool hands out the others). */
static int resolve_family(const char *name, int family, ConfigAddress *address, ConfigAddress *pool,
                          const char *default_pool, char **reterr_message) {
        union in_addr_union first;
        uint8_t min_len = family == AF_INET ? 8 : 64, max_len = family == AF_INET ? 30 : 126;
        char a[IN_ADDR_PREFIX_STR_MAX], p[IN_ADDR_PREFIX_STR_MAX];
        size_t n = family_address_size(family);

        if (pool->family == AF_UNSPEC && address->family != AF_UNSPEC) {
                *pool = *address;
                (void) in_addr_mask(family, &pool->addr, pool->prefixlen);
        } else if (pool->family == AF_UNSPEC) {
                int f;
                if (in_addr_prefix_from_string(default_pool, false, &f, &pool->addr, &pool->prefixlen) < 0)
                        return -EINVAL;
                pool->family = f;
        }
        if (pool->prefixlen < min_len || pool->prefixlen > max_len)
                return set_message(reterr_message, "Pool%s=%s: the prefix length must be %u…%u.", name,
                                   config_address_to_string(pool, p, sizeof(p)), min_len, max_len);
        (void) in_addr_mask(family, &pool->addr, pool->prefixlen);

        first = pool->addr;
        first.bytes[n - 1] |= 1; /* network address + 1 */
        if (address->family == AF_UNSPEC)
                *address = (ConfigAddress) { .family = family, .addr = first, .prefixlen = pool->prefixlen };

        if (address->prefixlen != pool->prefixlen || !in_addr_equal(family, &address->addr, &first))
                return set_message(reterr_message,
                                   "Address%s=%s must be the first host address of Pool%s=%s, "
                                   "with the same prefix length.",
                                   name, config_address_to_string(address, a, sizeof(a)), name,
                                   config_address_to_string(pool, p, sizeof(p)));
        return 0;
}

static int server_config_finish(ServerConfig *c, char **reterr_message) {
        int r;

        if (!c->tunnel) {
                c->tunnel = strdup(SERVER_CONF_DEFAULT_TUNNEL);
                if (!c->tunnel)
                        return -ENOMEM;
        }
        if (c->egress_interface && streq(c->egress_interface, c->tunnel))
                return set_message(reterr_message, "EgressInterface=%s cannot be the tunnel itself.",
                                   c->egress_interface);
        if (c->control_port == c->data_port)
                /* Different protocols, but one port for both confuses firewalls and people. */
                return set_message(reterr_message, "ControlPort= and DataPort= must differ (both %u).",
                                   c->control_port);

        r = resolve_family("", AF_INET, &c->address, &c->pool, SERVER_CONF_DEFAULT_POOL, reterr_message);
        if (r < 0)
                return r;
        r = resolve_family("6", AF_INET6, &c->address6, &c->pool6, SERVER_CONF_DEFAULT_POOL6, reterr_message);
        if (r < 0)
                return r;

        if (c->n_listen == 0) {
                /* Both families: the control and data sockets set IPV6_V6ONLY, so [::] serves
                 * IPv6 only and 0.0.0.0 is needed for IPv4. */
                c->listen[0] = (ConfigAddress) { .family = AF_INET6, .prefixlen = 128 };
                c->listen[1] = (ConfigAddress) { .family = AF_INET, .prefixlen = 32 };
                c->n_listen = 2;
                c->listen_explicit = false;
        }
        return 0;
}

int server_config_load_buffer(const char *name, const char *text, size_t size, ServerConfig **ret,
                              char **reterr_message) {
        _cleanup_(server_config_freep) ServerConfig *c = NULL;
        int r;

        r = server_config_new(&c);
        if (r < 0)
                return r;
        r = config_parse_buffer(name, text, size, &server_config_table, c, reterr_message);
        if (r < 0)
                return r;
        r = server_config_finish(c, reterr_message);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int server_config_load(const char *main_path, ServerConfig **ret, char **reterr_message) {
        _cleanup_(server_config_freep) ServerConfig *c = NULL;
        int r;

        r = server_config_new(&c);
        if (r < 0)
                return r;
        r = config_parse_with_dropins(main_path, 0, &server_config_table, c, reterr_message);
        if (r < 0)
                return r;
        r = server_config_finish(c, reterr_message);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}
