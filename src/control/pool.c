/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdio.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "pki.h"
#include "pool.h"

#define LEASE_FILE_MAX (4U * 1024U * 1024U)
#define LEASE_MAGIC "fluxify-leases 1"

typedef struct Lease {
        char *name;
        unsigned index;          /* host index: address = prefix + index; 2..size+1 */
        bool live;               /* a session uses it now (not persisted) */
        usec_t last_used;        /* CLOCK_REALTIME µs of the last acquire/release */
} Lease;

struct AddressPool {
        AddressPoolConfig config;
        char *lease_file;
        unsigned size;           /* client indexes 2 … size + 1 */
        Lease *leases;
        size_t n_leases;
};

int address_pool_config_from_strings(const char *pool4, const char *pool6, const char *lease_file,
                                     AddressPoolConfig *ret) {
        AddressPoolConfig c = { .lease_file = lease_file };
        int family, r;

        assert_return(ret, -EINVAL);
        if (pool4) {
                r = in_addr_prefix_from_string(pool4, false, &family, &c.prefix4, &c.prefixlen4);
                if (r < 0 || family != AF_INET)
                        return -EINVAL;
                c.enable4 = true;
        }
        if (pool6) {
                r = in_addr_prefix_from_string(pool6, false, &family, &c.prefix6, &c.prefixlen6);
                if (r < 0 || family != AF_INET6)
                        return -EINVAL;
                c.enable6 = true;
        }
        *ret = c;
        return 0;
}

static void address_at(int family, const union in_addr_union *prefix, unsigned index, union in_addr_union *ret) {
        *ret = *prefix;
        if (family == AF_INET)
                ret->in.s_addr = htonl(ntohl(prefix->in.s_addr) + index);
        else {
                /* Add to the low 32 bits (indexes stay below 2^16). */
                uint32_t low;
                memcpy(&low, ret->bytes + 12, 4);
                low = htonl(ntohl(low) + index);
                memcpy(ret->bytes + 12, &low, 4);
        }
}

static void lease_fill(AddressPool *p, unsigned index, AddressLease *ret) {
        *ret = (AddressLease) {};
        if (p->config.enable4) {
                ret->has4 = true;
                address_at(AF_INET, &p->config.prefix4, index, &ret->address4);
                ret->prefixlen4 = p->config.prefixlen4;
        }
        if (p->config.enable6) {
                ret->has6 = true;
                address_at(AF_INET6, &p->config.prefix6, index, &ret->address6);
                ret->prefixlen6 = p->config.prefixlen6;
        }
}

AddressPool *address_pool_free(AddressPool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_leases; i++)
                free(p->leases[i].name);
        free(p->leases);
        free(p->lease_file);
        return mfree(p);
}

static Lease *lease_find(AddressPool *p, const char *name) {
        for (size_t i = 0; i < p->n_leases; i++)
                if (streq(p->leases[i].name, name))
                        return &p->leases[i];
        return NULL;
}

static bool index_taken(AddressPool *p, unsigned index) {
        for (size_t i = 0; i < p->n_leases; i++)
                if (p->leases[i].index == index)
                        return true;
        return false;
}

static int lease_add(AddressPool *p, const char *name, unsigned index, usec_t last_used) {
        Lease *n;
        char *dup;

        dup = strdup(name);
        if (!dup)
                return -ENOMEM;
        n = realloc(p->leases, (p->n_leases + 1) * sizeof(Lease));
        if (!n) {
                free(dup);
                return -ENOMEM;
        }
        p->leases = n;
        p->leases[p->n_leases++] = (Lease) { .name = dup, .index = index, .last_used = last_used };
        return 0;
}

static void lease_remove(AddressPool *p, Lease *l) {
        size_t i = (size_t) (l - p->leases);

        free(l->name);
        memmove(p->leases + i, p->leases + i + 1, (p->n_leases - i - 1) * sizeof(Lease));
        p->n_leases--;
}

/* ------------------------------------------------------------------ file */

/* Writes every lease but `skip` (NULL: all). */
static int pool_save_without(AddressPool *p, const Lease *skip) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (!p->lease_file)
                return 0;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "# Fluxify address leases: name, host index, IPv4, IPv6, last use (µs since the epoch).\n"
                   "# Written atomically by fluxifyd-server; edit only while it is stopped.\n");
        fprintf(f, LEASE_MAGIC "\n");
        for (size_t i = 0; i < p->n_leases; i++) {
                char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
                AddressLease l;

                if (&p->leases[i] == skip)
                        continue;
                lease_fill(p, p->leases[i].index, &l);
                if (l.has4)
                        inet_ntop(AF_INET, &l.address4, a4, sizeof(a4));
                if (l.has6)
                        inet_ntop(AF_INET6, &l.address6, a6, sizeof(a6));
                fprintf(f, "lease %s %u %s %s %llu\n", p->leases[i].name, p->leases[i].index, a4, a6,
                        (unsigned long long) p->leases[i].last_used);
        }
        /* The count makes a truncated file detectable even without the atomic rename. */
        fprintf(f, "end %zu\n", p->n_leases - !!skip);
        if (fclose(f) != 0)
                return -ENOMEM;
        return write_file_atomic(p->lease_file, buf, size, 0644);
}

static int pool_save(AddressPool *p) {
        return pool_save_without(p, NULL);
}

static int parse_line(AddressPool *p, char *line, bool *seen_magic, bool *seen_end, size_t *n_parsed) {
        char name[PKI_NAME_MAX + 2], a4[64], a6[64];
        unsigned long long last;
        unsigned index;
        size_t count;
        int n = 0;

        if (line[0] == '#' || line[0] == 0)
                return 0;
        if (*seen_end)
                return -EBADMSG;
        if (!*seen_magic) {
                if (!streq(line, LEASE_MAGIC))
                        return -EBADMSG;
                *seen_magic = true;
                return 0;
        }
        if (sscanf(line, "end %zu%n", &count, &n) == 1 && line[n] == 0) {
                if (count != *n_parsed)
                        return -EBADMSG;
                *seen_end = true;
                return 0;
        }
        if (sscanf(line, "lease %65s %u %63s %63s %llu%n", name, &index, a4, a6, &last, &n) != 5 || line[n] != 0)
                return -EBADMSG;
        if (!pki_name_is_valid(name) || lease_find(p, name) || index < 2 || index_taken(p, index))
                return -EBADMSG;
        (*n_parsed)++;
        if (!streq(a4, "-") && inet_pton(AF_INET, a4, &(struct in_addr) {}) != 1)
                return -EBADMSG;
        if (!streq(a6, "-") && inet_pton(AF_INET6, a6, &(struct in6_addr) {}) != 1)
                return -EBADMSG;
        /* A lease that does not fit a (shrunk) pool is dropped: its name gets a new address. */
        if (index > p->size + 1)
                return 0;
        return lease_add(p, name, index, (usec_t) last);
}

static int pool_load(AddressPool *p) {
        _cleanup_(freep) char *buf = NULL;
        bool seen_magic = false, seen_end = false;
        char *line, *save = NULL;
        size_t size, n_parsed = 0;
        int r;

        if (!p->lease_file)
                return 0;
        r = read_full_file(p->lease_file, LEASE_FILE_MAX, &buf, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (strlen(buf) != size || (size > 0 && buf[size - 1] != '\n'))
                return -EBADMSG;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                r = parse_line(p, line, &seen_magic, &seen_end, &n_parsed);
                if (r < 0)
                        return r;
        }
        if (!seen_end)
                return -EBADMSG;
        return 0;
}

int address_pool_new(const AddressPoolConfig *c, AddressPool **ret) {
        _cleanup_(address_pool_freep) AddressPool *p = NULL;
        unsigned size = ADDRESS_POOL_MAX_HOSTS;
        int r;

        assert_return(c && ret, -EINVAL);
        if (!c->enable4 && !c->enable6)
                return -EINVAL;
        if (c->enable4) {
                if (c->prefixlen4 < 8 || c->prefixlen4 > 30)
                        return -EINVAL;
                /* Without network, server (.1) and broadcast addresses. */
                size = MIN(size, (1U << (32 - c->prefixlen4)) - 3);
        }
        if (c->enable6) {
                if (c->prefixlen6 < 64 || c->prefixlen6 > 126)
                        return -EINVAL;
                if (128 - c->prefixlen6 < 32)
                        size = MIN(size, (1U << (128 - c->prefixlen6)) - 2);
        }
        p = new0(AddressPool, 1);
        if (!p)
                return -ENOMEM;
        p->config = *c;
        p->size = size;
        if (c->enable4)
                (void) in_addr_mask(AF_INET, &p->config.prefix4, c->prefixlen4);
        if (c->enable6)
                (void) in_addr_mask(AF_INET6, &p->config.prefix6, c->prefixlen6);
        if (c->lease_file) {
                p->lease_file = strdup(c->lease_file);
                if (!p->lease_file)
                        return -ENOMEM;
        }
        p->config.lease_file = p->lease_file;
        r = pool_load(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int address_pool_server_address(AddressPool *p, int family, union in_addr_union *ret, uint8_t *ret_prefixlen) {
        assert_return(p && ret, -EINVAL);
        if (family == AF_INET && p->config.enable4) {
                address_at(AF_INET, &p->config.prefix4, 1, ret);
                if (ret_prefixlen)
                        *ret_prefixlen = p->config.prefixlen4;
                return 0;
        }
        if (family == AF_INET6 && p->config.enable6) {
                address_at(AF_INET6, &p->config.prefix6, 1, ret);
                if (ret_prefixlen)
                        *ret_prefixlen = p->config.prefixlen6;
                return 0;
        }
        return -EAFNOSUPPORT;
}

int address_pool_acquire(AddressPool *p, const char *name, usec_t now_usec, AddressLease *ret) {
        Lease *l, *victim = NULL;
        Lease saved;
        unsigned index = 0;
        int r;

        assert_return(p && ret, -EINVAL);
        if (!pki_name_is_valid(name))
                return -EINVAL;

        l = lease_find(p, name);
        if (l) {
                if (l->live)
                        return -EADDRINUSE;
                saved = *l;
                l->live = true;
                l->last_used = now_usec;
                r = pool_save(p);
                if (r < 0) {
                        *l = saved;
                        return r;
                }
                lease_fill(p, l->index, ret);
                return 0;
        }

        for (unsigned i = 2; i < p->size + 2; i++)
                if (!index_taken(p, i)) {
                        index = i;
                        break;
                }
        if (index == 0) {
                /* Every address is leased: take over the least recently used idle lease. */
                for (size_t i = 0; i < p->n_leases; i++)
                        if (!p->leases[i].live && (!victim || p->leases[i].last_used < victim->last_used))
                                victim = &p->leases[i];
                if (!victim)
                        return -ENOSPC;
                index = victim->index;
        }

        if (victim) {
                saved = *victim;
                saved.name = strdup(victim->name);
                if (!saved.name)
                        return -ENOMEM;
                lease_remove(p, victim);
        }
        r = lease_add(p, name, index, now_usec);
        if (r >= 0) {
                p->leases[p->n_leases - 1].live = true;
                r = pool_save(p);
                if (r < 0) {
                        lease_remove(p, &p->leases[p->n_leases - 1]);
                }
        }
        if (victim) {
                if (r < 0)
                        (void) lease_add(p, saved.name, saved.index, saved.last_used);
                free(saved.name);
        }
        if (r < 0)
                return r;
        lease_fill(p, index, ret);
        return 0;
}

int address_pool_release(AddressPool *p, const char *name, usec_t now_usec) {
        Lease *l;
        int r;

        assert_return(p, -EINVAL);
        l = name ? lease_find(p, name) : NULL;
        if (!l || !l->live)
                return -ENOENT;
        l->live = false;
        l->last_used = now_usec;
        /* The last-use time only orders evictions; failing to persist it is not fatal for the
         * caller, but report it. */
        r = pool_save(p);
        return r < 0 ? r : 0;
}

int address_pool_forget(AddressPool *p, const char *name) {
        Lease *l;
        int r;

        assert_return(p, -EINVAL);
        l = name ? lease_find(p, name) : NULL;
        if (!l)
                return -ENOENT;
        /* Write the file without it first, so that a failure leaves memory and file alike. */
        r = pool_save_without(p, l);
        if (r < 0)
                return r;
        lease_remove(p, l);
        return 0;
}

int address_pool_lookup(AddressPool *p, const char *name, AddressLease *ret) {
        Lease *l;

        assert_return(p && ret, -EINVAL);
        l = name ? lease_find(p, name) : NULL;
        if (!l)
                return -ENOENT;
        lease_fill(p, l->index, ret);
        return 0;
}

bool address_pool_is_live(AddressPool *p, const char *name) {
        Lease *l = p && name ? lease_find(p, name) : NULL;
        return l && l->live;
}

unsigned address_pool_size(AddressPool *p) {
        return p->size;
}

unsigned address_pool_n_leases(AddressPool *p) {
        return (unsigned) p->n_leases;
}

unsigned address_pool_n_live(AddressPool *p) {
        unsigned n = 0;
        for (size_t i = 0; i < p->n_leases; i++)
                n += p->leases[i].live;
        return n;
}
