/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dlfcn.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>

#include "alloc-util.h"
#include "nft.h"

/* libnftables is loaded with dlopen() only while a command runs and unloaded afterwards (as systemd
 * does for its optional libraries): it and what only it needs (libnftnl, libxtables, libgmp) are
 * about 1 MiB of resident pages that an idle daemon would otherwise keep for a table it touches at
 * start, on reload and at stop. The header gives the types; the soname is the ABI we built for. */
#define NFT_LIBRARY "libnftables.so.1"

/* GMP's allocator hooks (mp_get/set_memory_functions, <gmp.h>), declared here to need no header. */
typedef void *(*GmpAlloc)(size_t);
typedef void *(*GmpRealloc)(void *, size_t, size_t);
typedef void (*GmpFree)(void *, size_t);
typedef void (*GmpGetMemoryFunctions)(GmpAlloc *, GmpRealloc *, GmpFree *);
typedef void (*GmpSetMemoryFunctions)(GmpAlloc, GmpRealloc, GmpFree);

typedef struct NftContext {
        void *dl;
        /* nft_ctx_new() points GMP's process-wide allocator at libnftables' own functions; GMP is
         * shared with GnuTLS (through nettle/hogweed), which would jump into the unmapped library
         * after dlclose(). So the previous hooks are saved before and restored before unloading. */
        GmpSetMemoryFunctions gmp_set;
        GmpAlloc gmp_alloc;
        GmpRealloc gmp_realloc;
        GmpFree gmp_free;
        struct nft_ctx *ctx;
        typeof(nft_ctx_new) *ctx_new;
        typeof(nft_ctx_free) *ctx_free;
        typeof(nft_ctx_buffer_output) *ctx_buffer_output;
        typeof(nft_ctx_buffer_error) *ctx_buffer_error;
        typeof(nft_ctx_get_error_buffer) *ctx_get_error_buffer;
        typeof(nft_run_cmd_from_buffer) *run_cmd_from_buffer;
} NftContext;

static void nft_context_done(NftContext *c) {
        if (c->ctx)
                c->ctx_free(c->ctx);
        if (c->gmp_set)
                c->gmp_set(c->gmp_alloc, c->gmp_realloc, c->gmp_free);
        if (c->dl)
                (void) dlclose(c->dl);
        *c = (NftContext) {};
}

/* Names we put into rule text are checked strictly: nothing that could end a quoted string or
 * start another statement. */
static bool nft_name_valid(const char *s, size_t max) {
        size_t n;

        if (isempty(s))
                return false;
        n = strlen(s);
        if (n > max || !isalpha((unsigned char) s[0]))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '_')
                        return false;
        return true;
}

static bool nft_ifname_valid(const char *s) {
        if (isempty(s) || strlen(s) >= 16)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_-.@+", *p))
                        return false;
        return true;
}

static bool nft_family_valid(const char *f) {
        return f && (streq(f, "inet") || streq(f, "ip") || streq(f, "ip6") || streq(f, "arp") ||
                     streq(f, "bridge") || streq(f, "netdev"));
}

/* Trims nft's multi-line error into something that fits one log line per error. */
static char *error_text(const char *buf) {
        char *s;
        size_t n;

        s = strdup(isempty(buf) ? "nft: unknown error" : buf);
        if (!s)
                return NULL;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

static int errno_from_text(const char *t) {
        if (!t)
                return -EINVAL;
        if (strstr(t, "Operation not permitted"))
                return -EPERM;
        if (strstr(t, "No such file or directory"))
                return -ENOENT;
        if (strstr(t, "Cannot allocate memory"))
                return -ENOMEM;
        if (strstr(t, "Protocol not supported") || strstr(t, "Address family not supported"))
                return -EPROTONOSUPPORT;
        return -EINVAL;
}

static int nft_context_resolve(NftContext *c) {
        GmpGetMemoryFunctions gmp_get;
        GmpSetMemoryFunctions gmp_set;
        const struct {
                const char *name;
                void **fn;
        } syms[] = {
                { "nft_ctx_new", (void **) &c->ctx_new },
                { "nft_ctx_free", (void **) &c->ctx_free },
                { "nft_ctx_buffer_output", (void **) &c->ctx_buffer_output },
                { "nft_ctx_buffer_error", (void **) &c->ctx_buffer_error },
                { "nft_ctx_get_error_buffer", (void **) &c->ctx_get_error_buffer },
                { "nft_run_cmd_from_buffer", (void **) &c->run_cmd_from_buffer },
        };

        for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
                *syms[i].fn = dlsym(c->dl, syms[i].name);
                if (!*syms[i].fn)
                        return -EOPNOTSUPP;
        }
        /* Searched in libnftables' dependencies: the libgmp the process uses. */
        gmp_get = (GmpGetMemoryFunctions) dlsym(c->dl, "__gmp_get_memory_functions");
        gmp_set = (GmpSetMemoryFunctions) dlsym(c->dl, "__gmp_set_memory_functions");
        if (!gmp_get != !gmp_set)
                return -EOPNOTSUPP;
        if (gmp_get) {
                gmp_get(&c->gmp_alloc, &c->gmp_realloc, &c->gmp_free);
                c->gmp_set = gmp_set;
        }
        return 0;
}

/* Loads the library and makes a context that buffers its output and errors. -EOPNOTSUPP when the
 * library is missing or lacks a symbol; ret_error (optional) then says why. */
static int nft_context_open(NftContext *ret, char **ret_error) {
        _cleanup_(nft_context_done) NftContext c = {};
        int r;

        c.dl = dlopen(NFT_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        r = c.dl ? nft_context_resolve(&c) : -EOPNOTSUPP;
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "nft: cannot use %s: %s", NFT_LIBRARY,
                                          dlerror() ?: "symbol missing") < 0)
                        return -ENOMEM;
                return r;
        }
        c.ctx = c.ctx_new(NFT_CTX_DEFAULT);
        if (!c.ctx)
                return -ENOMEM;
        if (c.ctx_buffer_output(c.ctx) < 0 || c.ctx_buffer_error(c.ctx) < 0)
                return -ENOMEM;
        *ret = c;
        c = (NftContext) {};
        return 0;
}

int nft_run(const char *text, char **ret_error) {
        _cleanup_(nft_context_done) NftContext c = {};
        const char *err;
        int r;

        assert_return(text, -EINVAL);

        r = nft_context_open(&c, ret_error);
        if (r < 0)
                return r;
        /* One buffer is one transaction: the kernel applies all of it or nothing. */
        if (c.run_cmd_from_buffer(c.ctx, text) == 0)
                return 0;

        err = c.ctx_get_error_buffer(c.ctx);
        r = errno_from_text(err);
        if (ret_error) {
                *ret_error = error_text(err);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return r;
}

int nft_table_replace(const char *family, const char *name, const char *body, char **ret_error) {
        _cleanup_(freep) char *text = NULL;

        assert_return(nft_family_valid(family), -EINVAL);
        assert_return(nft_name_valid(name, 64), -EINVAL);
        assert_return(body, -EINVAL);

        /* "add" makes the "delete" valid when the table is new; the whole buffer is one atomic
         * transaction, so the old table stays in force if the new body is rejected. */
        if (asprintf(&text,
                     "add table %1$s %2$s\n"
                     "delete table %1$s %2$s\n"
                     "table %1$s %2$s {\n%3$s\n}\n",
                     family, name, body) < 0)
                return -ENOMEM;
        return nft_run(text, ret_error);
}

int nft_table_exists(const char *family, const char *name) {
        _cleanup_(nft_context_done) NftContext c = {};
        _cleanup_(freep) char *cmd = NULL;
        const char *err;
        int r;

        assert_return(nft_family_valid(family), -EINVAL);
        assert_return(nft_name_valid(name, 64), -EINVAL);

        r = nft_context_open(&c, NULL);
        if (r < 0)
                return r;
        if (asprintf(&cmd, "list table %s %s", family, name) < 0)
                return -ENOMEM;
        if (c.run_cmd_from_buffer(c.ctx, cmd) == 0)
                return 1;
        err = c.ctx_get_error_buffer(c.ctx);
        r = errno_from_text(err);
        return r == -ENOENT ? 0 : r;
}

int nft_table_delete(const char *family, const char *name, char **ret_error) {
        _cleanup_(freep) char *text = NULL;
        int r, existed;

        assert_return(nft_family_valid(family), -EINVAL);
        assert_return(nft_name_valid(name, 64), -EINVAL);

        existed = nft_table_exists(family, name);
        if (existed < 0)
                return existed;
        /* nft 1.0.6 has no "destroy": "add" first makes the delete succeed either way. */
        if (asprintf(&text, "add table %1$s %2$s\ndelete table %1$s %2$s\n", family, name) < 0)
                return -ENOMEM;
        r = nft_run(text, ret_error);
        if (r < 0)
                return r;
        return existed;
}

/* ---- rule text builders ---- */

typedef struct Text {
        char *buf;
        size_t len;
        size_t size;
        bool oom;
} Text;

_printf_(2, 3) static void text_append(Text *t, const char *fmt, ...) {
        va_list ap;
        int n;

        if (t->oom)
                return;
        for (;;) {
                size_t avail = t->size - t->len;

                va_start(ap, fmt);
                n = vsnprintf(t->buf ? t->buf + t->len : NULL, avail, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        t->oom = true;
                        return;
                }
                if ((size_t) n < avail) {
                        t->len += n;
                        return;
                }
                size_t ns = MAX(t->size * 2, t->len + n + 256);
                char *b = realloc(t->buf, ns);
                if (!b) {
                        t->oom = true;
                        return;
                }
                t->buf = b;
                t->size = ns;
        }
}

static int text_finish(Text *t, char **ret) {
        if (t->oom || !t->buf) {
                free(t->buf);
                return -ENOMEM;
        }
        *ret = t->buf;
        return 0;
}

/* "tcp option maxseg size set rt mtu" clamps to the route's MTU; a fixed value only lowers. */
static void text_mss_clamp(Text *t, const char *match, uint16_t mss) {
        if (mss == 0)
                text_append(t, "\t\t%s tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu\n", match);
        else
                text_append(t,
                            "\t\t%s tcp flags & (syn | rst) == syn tcp option maxseg size > %u "
                            "tcp option maxseg size set %u\n",
                            match, mss, mss);
}

static int prefix_string(int family, const union in_addr_union *a, uint8_t prefixlen, char *buf, size_t size) {
        union in_addr_union masked = *a;
        size_t n;
        int r;

        if (prefixlen > family_address_size(family) * 8)
                return -EINVAL;
        r = in_addr_mask(family, &masked, prefixlen);
        if (r < 0)
                return r;
        r = in_addr_to_string(family, &masked, buf, size);
        if (r < 0)
                return r;
        n = strlen(buf);
        if (snprintf(buf + n, size - n, "/%u", prefixlen) >= (int) (size - n))
                return -ENOBUFS;
        return 0;
}

int nft_server_table_build(const NftServerConfig *c, char **ret_body) {
        char p4[IN_ADDR_PREFIX_STR_MAX], p6[IN_ADDR_PREFIX_STR_MAX], egress[64] = "";
        Text t = {};
        int r;

        assert_return(c && ret_body, -EINVAL);
        assert_return(nft_ifname_valid(c->tun_ifname), -EINVAL);
        assert_return(!c->egress_ifname || nft_ifname_valid(c->egress_ifname), -EINVAL);
        assert_return(!c->egress_ifname || !streq(c->egress_ifname, c->tun_ifname), -EINVAL);
        assert_return(!c->masquerade || c->has_pool4 || c->has_pool6, -EINVAL);
        assert_return(c->mss == 0 || (c->mss >= 536 && c->mss <= 65495), -EINVAL);

        if (c->has_pool4) {
                r = prefix_string(AF_INET, &c->pool4, c->pool4_prefixlen, p4, sizeof p4);
                if (r < 0)
                        return r;
        }
        if (c->has_pool6) {
                r = prefix_string(AF_INET6, &c->pool6, c->pool6_prefixlen, p6, sizeof p6);
                if (r < 0)
                        return r;
        }
        /* Toward the egress if one is configured, else anywhere but back into the tunnel. */
        if (c->egress_ifname)
                snprintf(egress, sizeof egress, "oifname \"%s\"", c->egress_ifname);
        else
                snprintf(egress, sizeof egress, "oifname != \"%s\"", c->tun_ifname);

        /* Forwarding: only what the clients start (and its replies) passes the TUN; nothing from
         * outside reaches the clients unsolicited (the original's S7 flaw). Other forwarded traffic
         * on this host is not ours to judge: policy accept. */
        text_append(&t, "\tchain forward {\n");
        text_append(&t, "\t\ttype filter hook forward priority filter; policy accept;\n");
        if (c->mss_clamp) {
                char m[64];

                snprintf(m, sizeof m, "iifname \"%s\"", c->tun_ifname);
                text_mss_clamp(&t, m, c->mss);
                snprintf(m, sizeof m, "oifname \"%s\"", c->tun_ifname);
                text_mss_clamp(&t, m, c->mss);
        }
        text_append(&t, "\t\tiifname \"%1$s\" oifname \"%1$s\" %2$s\n", c->tun_ifname,
                    c->client_to_client ? "accept" : "drop");
        text_append(&t, "\t\tiifname \"%s\" ct state invalid drop\n", c->tun_ifname);
        text_append(&t, "\t\tiifname \"%s\" %s accept\n", c->tun_ifname, egress);
        text_append(&t, "\t\tiifname \"%s\" drop\n", c->tun_ifname);
        text_append(&t, "\t\toifname \"%s\" ct state established,related accept\n", c->tun_ifname);
        text_append(&t, "\t\toifname \"%s\" drop\n", c->tun_ifname);
        text_append(&t, "\t}\n");

        if (c->masquerade) {
                text_append(&t, "\tchain postrouting {\n");
                text_append(&t, "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
                if (c->has_pool4)
                        text_append(&t, "\t\t%s ip saddr %s masquerade\n", egress, p4);
                if (c->has_pool6)
                        text_append(&t, "\t\t%s ip6 saddr %s masquerade\n", egress, p6);
                text_append(&t, "\t}\n");
        }

        return text_finish(&t, ret_body);
}

int nft_server_table_apply(const NftServerConfig *c, char **ret_error) {
        _cleanup_(freep) char *body = NULL;
        int r;

        r = nft_server_table_build(c, &body);
        if (r < 0)
                return r;
        return nft_table_replace("inet", NFT_SERVER_TABLE, body, ret_error);
}

int nft_client_table_name(const char *profile, char **ret_name) {
        char *s;

        assert_return(ret_name, -EINVAL);
        assert_return(nft_name_valid(profile, 32), -EINVAL);

        if (asprintf(&s, NFT_CLIENT_TABLE_PREFIX "%s", profile) < 0)
                return -ENOMEM;
        *ret_name = s;
        return 0;
}

int nft_client_table_build(const NftClientConfig *c, char **ret_body) {
        Text t = {};
        bool any = false;

        assert_return(c && ret_body, -EINVAL);
        assert_return(nft_name_valid(c->profile, 32), -EINVAL);
        assert_return(!c->tun_ifname || nft_ifname_valid(c->tun_ifname), -EINVAL);
        assert_return(!c->mss_clamp || c->tun_ifname, -EINVAL);
        assert_return(c->mss == 0 || (c->mss >= 536 && c->mss <= 65495), -EINVAL);
        for (char **i = c->masquerade_ifnames; i && *i; i++)
                assert_return(nft_ifname_valid(*i), -EINVAL);

        if (c->mss_clamp) {
                char m[64];

                /* Forwarded traffic (this client as a LAN gateway): locally originated TCP already
                 * picks its MSS from the TUN's MTU. */
                text_append(&t, "\tchain forward {\n");
                text_append(&t, "\t\ttype filter hook forward priority mangle; policy accept;\n");
                snprintf(m, sizeof m, "oifname \"%s\"", c->tun_ifname);
                text_mss_clamp(&t, m, c->mss);
                snprintf(m, sizeof m, "iifname \"%s\"", c->tun_ifname);
                text_mss_clamp(&t, m, c->mss);
                text_append(&t, "\t}\n");
                any = true;
        }

        if (c->mark_restore) {
                /* As wg-quick: remember the uplink socket's mark in conntrack, put it back on the
                 * replies before the routing decision, so rp_filter (src_valid_mark=1) checks them
                 * against the uplink's table. */
                text_append(&t, "\tchain premangle {\n");
                text_append(&t, "\t\ttype filter hook prerouting priority mangle; policy accept;\n");
                text_append(&t, "\t\tmeta l4proto udp ct mark != 0 meta mark set ct mark\n");
                text_append(&t, "\t}\n");
                text_append(&t, "\tchain postmangle {\n");
                text_append(&t, "\t\ttype filter hook postrouting priority mangle; policy accept;\n");
                text_append(&t, "\t\tmeta l4proto udp meta mark != 0 ct mark set meta mark\n");
                text_append(&t, "\t}\n");
                any = true;
        }

        if (c->masquerade_ifnames && c->masquerade_ifnames[0]) {
                text_append(&t, "\tchain postrouting {\n");
                text_append(&t, "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
                for (char **i = c->masquerade_ifnames; *i; i++)
                        text_append(&t, "\t\toifname \"%s\" masquerade\n", *i);
                text_append(&t, "\t}\n");
                any = true;
        }

        if (!any)
                /* An empty table is valid and keeps apply/delete uniform. */
                text_append(&t, "%s", "");
        return text_finish(&t, ret_body);
}

int nft_client_table_apply(const NftClientConfig *c, char **ret_error) {
        _cleanup_(freep) char *body = NULL, *name = NULL;
        int r;

        assert_return(c, -EINVAL);

        r = nft_client_table_name(c->profile, &name);
        if (r < 0)
                return r;
        r = nft_client_table_build(c, &body);
        if (r < 0)
                return r;
        return nft_table_replace("inet", name, body, ret_error);
}
