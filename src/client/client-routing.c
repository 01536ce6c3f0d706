/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc-util.h"
#include "client-routing.h"
#include "fd-util.h"
#include "in-addr-util.h"

typedef struct RoutingEntry {
        bool is_rule;
        union {
                RtnlRoute route;
                RtnlRule rule;
        };
} RoutingEntry;

struct Routing {
        Rtnl *rtnl;             /* borrowed */
        char *journal_path;
        RoutingEntry *entries;  /* in installation order */
        size_t n_entries;
};

uint32_t routing_uplink_table(const char *profile, int ifindex) {
        uint8_t h = 0;

        /* FNV-1a folded to a byte: stable across restarts, cheap. */
        uint32_t x = 2166136261u;
        for (const char *p = profile; p && *p; p++)
                x = (x ^ (uint8_t) *p) * 16777619u;
        h = (uint8_t) (x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24));
        return 0x46000000u | ((uint32_t) h << 16) | ((uint32_t) ifindex & 0xffffu);
}

int routing_new(Rtnl *rtnl, const char *journal_path, Routing **ret) {
        _cleanup_(routing_freep) Routing *r = NULL;

        r = new0(Routing, 1);
        if (!r)
                return -ENOMEM;
        r->rtnl = rtnl;
        r->journal_path = strdup(journal_path);
        if (!r->journal_path)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

Routing *routing_free(Routing *r) {
        if (!r)
                return NULL;
        free(r->journal_path);
        free(r->entries);
        return mfree(r);
}

size_t routing_count(const Routing *r) {
        return r ? r->n_entries : 0;
}

static json_t *addr_json(int family, const union in_addr_union *a) {
        char buf[INET6_ADDRSTRLEN];

        if (in_addr_is_null(family, a) || in_addr_to_string(family, a, buf, sizeof buf) < 0)
                return json_null();
        return json_string(buf);
}

static json_t *entry_to_json(const RoutingEntry *e) {
        if (e->is_rule)
                return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I}", "type", "rule", "family", e->rule.family,
                                 "priority", (json_int_t) e->rule.priority, "table", (json_int_t) e->rule.table,
                                 "fwmark", (json_int_t) e->rule.fwmark, "fwmask", (json_int_t) e->rule.fwmask);
        return json_pack("{s:s, s:i, s:o, s:i, s:o, s:i, s:I, s:I}", "type", "route", "family", e->route.family,
                         "dst", addr_json(e->route.family, &e->route.dst), "prefixlen", e->route.dst_prefixlen,
                         "gateway", addr_json(e->route.family, &e->route.gateway), "oif", e->route.oif, "table",
                         (json_int_t) e->route.table, "metric", (json_int_t) e->route.metric);
}

static int parse_addr(json_t *v, int family, union in_addr_union *ret) {
        if (!v || json_is_null(v)) {
                *ret = (union in_addr_union) {};
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        return in_addr_from_string(family, json_string_value(v), ret);
}

static int entry_from_json(json_t *j, RoutingEntry *ret) {
        const char *type = json_string_value(json_object_get(j, "type"));
        int family = (int) json_integer_value(json_object_get(j, "family"));
        RoutingEntry e = {};

        if (!type || (family != AF_INET && family != AF_INET6))
                return -EBADMSG;
        if (streq(type, "rule")) {
                e.is_rule = true;
                e.rule = (RtnlRule) {
                        .family = family,
                        .priority = (uint32_t) json_integer_value(json_object_get(j, "priority")),
                        .table = (uint32_t) json_integer_value(json_object_get(j, "table")),
                        .fwmark = (uint32_t) json_integer_value(json_object_get(j, "fwmark")),
                        .fwmask = (uint32_t) json_integer_value(json_object_get(j, "fwmask")),
                        .protocol = RTPROT_FLUXIFY,
                };
        } else if (streq(type, "route")) {
                e.route = (RtnlRoute) {
                        .family = family,
                        .dst_prefixlen = (uint8_t) json_integer_value(json_object_get(j, "prefixlen")),
                        .oif = (int) json_integer_value(json_object_get(j, "oif")),
                        .table = (uint32_t) json_integer_value(json_object_get(j, "table")),
                        .metric = (uint32_t) json_integer_value(json_object_get(j, "metric")),
                        .protocol = RTPROT_FLUXIFY,
                };
                if (parse_addr(json_object_get(j, "dst"), family, &e.route.dst) < 0 ||
                    parse_addr(json_object_get(j, "gateway"), family, &e.route.gateway) < 0)
                        return -EBADMSG;
        } else
                return -EBADMSG;
        *ret = e;
        return 0;
}

static int journal_write(Routing *r) {
        _cleanup_(freep) char *text = NULL;
        json_t *arr;

        if (r->n_entries == 0) {
                if (unlink(r->journal_path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }

        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_entries; i++)
                if (json_array_append_new(arr, entry_to_json(&r->entries[i])) < 0) {
                        json_decref(arr);
                        return -ENOMEM;
                }
        text = json_dumps(arr, JSON_INDENT(1));
        json_decref(arr);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(r->journal_path, text, strlen(text), 0600);
}

static int entry_push(Routing *r, const RoutingEntry *e) {
        RoutingEntry *n;

        n = reallocarray(r->entries, r->n_entries + 1, sizeof(RoutingEntry));
        if (!n)
                return -ENOMEM;
        r->entries = n;
        r->entries[r->n_entries++] = *e;
        return journal_write(r);
}

static bool route_same_key(const RtnlRoute *a, const RtnlRoute *b) {
        return a->family == b->family && a->table == b->table && a->dst_prefixlen == b->dst_prefixlen &&
               a->metric == b->metric && in_addr_equal(a->family, &a->dst, &b->dst);
}

int routing_add_route(Routing *r, const RtnlRoute *route) {
        RoutingEntry e = { .is_rule = false, .route = *route };
        int k;

        e.route.protocol = RTPROT_FLUXIFY;
        /* Journal first: if we crash between the two steps, recovery deletes a route that is not
         * there, which is harmless; the other order could leak a route. */
        for (size_t i = 0; i < r->n_entries; i++)
                if (!r->entries[i].is_rule && route_same_key(&r->entries[i].route, &e.route)) {
                        r->entries[i] = e;
                        k = journal_write(r);
                        if (k < 0)
                                return k;
                        return rtnl_route_replace(r->rtnl, &e.route);
                }
        k = entry_push(r, &e);
        if (k < 0)
                return k;
        k = rtnl_route_replace(r->rtnl, &e.route);
        if (k < 0) {
                r->n_entries--;
                (void) journal_write(r);
        }
        return k;
}

int routing_add_rule(Routing *r, const RtnlRule *rule) {
        RoutingEntry e = { .is_rule = true, .rule = *rule };
        int k;

        e.rule.protocol = RTPROT_FLUXIFY;
        k = entry_push(r, &e);
        if (k < 0)
                return k;
        k = rtnl_rule_add(r->rtnl, &e.rule);
        if (k == -EEXIST)
                k = 0; /* left over by a crash we did not journal: now it is ours again */
        if (k < 0) {
                r->n_entries--;
                (void) journal_write(r);
        }
        return k;
}

static int entry_remove_kernel(Rtnl *rtnl, const RoutingEntry *e) {
        int k;

        if (e->is_rule) {
                k = rtnl_rule_delete(rtnl, &e->rule);
                return k == -ENOENT ? 0 : k;
        }
        k = rtnl_route_delete(rtnl, &e->route);
        /* Gone already: its interface went away, or someone removed it. */
        return k == -ESRCH || k == -ENOENT || k == -ENODEV ? 0 : k;
}

/* Removes entries matching pred, newest first. */
static int remove_where(Routing *r, bool (*pred)(const RoutingEntry *e, uintptr_t arg), uintptr_t arg) {
        int ret = 0;

        for (size_t i = r->n_entries; i > 0; i--) {
                RoutingEntry *e = &r->entries[i - 1];
                int k;

                if (!pred(e, arg))
                        continue;
                k = entry_remove_kernel(r->rtnl, e);
                if (k < 0 && ret == 0)
                        ret = k;
                memmove(e, e + 1, (r->n_entries - i) * sizeof(RoutingEntry));
                r->n_entries--;
        }
        {
                int k = journal_write(r);
                if (k < 0 && ret == 0)
                        ret = k;
        }
        return ret;
}

static bool match_table(const RoutingEntry *e, uintptr_t arg) {
        return e->is_rule ? e->rule.table == (uint32_t) arg : e->route.table == (uint32_t) arg;
}

static bool match_oif(const RoutingEntry *e, uintptr_t arg) {
        return !e->is_rule && e->route.oif == (int) arg;
}

static bool match_all(const RoutingEntry *e, uintptr_t arg) {
        return true;
}

static bool match_route_key(const RoutingEntry *e, uintptr_t arg) {
        return !e->is_rule && route_same_key(&e->route, (const RtnlRoute *) arg);
}

int routing_remove_route(Routing *r, const RtnlRoute *route) {
        return remove_where(r, match_route_key, (uintptr_t) route);
}

int routing_remove_table(Routing *r, uint32_t table) {
        return remove_where(r, match_table, table);
}

int routing_remove_oif(Routing *r, int oif) {
        return remove_where(r, match_oif, (uintptr_t) oif);
}

int routing_remove_all(Routing *r) {
        if (!r)
                return 0;
        return remove_where(r, match_all, 0);
}

int routing_recover(Rtnl *rtnl, const char *journal_path) {
        _cleanup_(freep) char *text = NULL;
        json_t *arr, *j;
        size_t i;
        int n = 0, k;

        k = read_full_file(journal_path, 1U << 20, &text, NULL);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k;

        arr = json_loads(text, 0, NULL);
        if (json_is_array(arr))
                for (i = json_array_size(arr); i > 0; i--) {
                        RoutingEntry e;

                        j = json_array_get(arr, i - 1);
                        if (entry_from_json(j, &e) < 0)
                                continue;
                        if (entry_remove_kernel(rtnl, &e) >= 0)
                                n++;
                }
        json_decref(arr);

        if (unlink(journal_path) < 0 && errno != ENOENT)
                return -errno;
        return n;
}
