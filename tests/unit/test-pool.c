/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "pool.h"

static char dir[64];
static char lease_path[128];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/test-pool-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(lease_path, sizeof(lease_path), "%s/leases", dir);
}

static void teardown(void) {
        (void) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static AddressPool *pool_open(const char *p4, const char *p6, int expect) {
        AddressPoolConfig c;
        AddressPool *p = NULL;

        ck_assert_int_eq(address_pool_config_from_strings(p4, p6, lease_path, &c), 0);
        ck_assert_int_eq(address_pool_new(&c, &p), expect);
        return p;
}

static const char *a4(const AddressLease *l, char *buf) {
        return inet_ntop(AF_INET, &l->address4, buf, INET6_ADDRSTRLEN);
}

static const char *a6(const AddressLease *l, char *buf) {
        return inet_ntop(AF_INET6, &l->address6, buf, INET6_ADDRSTRLEN);
}

START_TEST(test_defaults_and_server_address) {
        _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);
        union in_addr_union a;
        uint8_t plen;
        char buf[INET6_ADDRSTRLEN];

        ck_assert_int_eq(address_pool_server_address(p, AF_INET, &a, &plen), 0);
        ck_assert_str_eq(inet_ntop(AF_INET, &a, buf, sizeof(buf)), "10.8.0.1");
        ck_assert_uint_eq(plen, 24);
        ck_assert_int_eq(address_pool_server_address(p, AF_INET6, &a, &plen), 0);
        ck_assert_str_eq(inet_ntop(AF_INET6, &a, buf, sizeof(buf)), "fd00:8::1");
        ck_assert_uint_eq(plen, 64);
        /* 10.8.0.2 … 10.8.0.254 */
        ck_assert_uint_eq(address_pool_size(p), 253);
}
END_TEST

START_TEST(test_bad_config) {
        AddressPoolConfig c;
        AddressPool *p = NULL;

        ck_assert_int_eq(address_pool_config_from_strings("10.8.0.0", NULL, NULL, &c), -EINVAL);
        ck_assert_int_eq(address_pool_config_from_strings("fd00::/64", NULL, NULL, &c), -EINVAL);
        ck_assert_int_eq(address_pool_config_from_strings(NULL, "10.0.0.0/8", NULL, &c), -EINVAL);
        ck_assert_int_eq(address_pool_config_from_strings(NULL, NULL, NULL, &c), 0);
        ck_assert_int_eq(address_pool_new(&c, &p), -EINVAL);
        ck_assert_int_eq(address_pool_config_from_strings("10.8.0.0/31", NULL, NULL, &c), 0);
        ck_assert_int_eq(address_pool_new(&c, &p), -EINVAL);
        ck_assert_int_eq(address_pool_config_from_strings(NULL, "fd00::/127", NULL, &c), 0);
        ck_assert_int_eq(address_pool_new(&c, &p), -EINVAL);
}
END_TEST

START_TEST(test_same_name_same_addresses) {
        AddressLease l1, l2, l3;
        char b1[INET6_ADDRSTRLEN], b2[INET6_ADDRSTRLEN];

        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);

                ck_assert_int_eq(address_pool_acquire(p, "laptop", 100, &l1), 0);
                ck_assert_str_eq(a4(&l1, b1), "10.8.0.2");
                ck_assert_str_eq(a6(&l1, b2), "fd00:8::2");
                ck_assert_uint_eq(l1.prefixlen4, 24);
                ck_assert_uint_eq(l1.prefixlen6, 64);
                ck_assert_int_eq(address_pool_acquire(p, "phone", 101, &l2), 0);
                ck_assert_str_eq(a4(&l2, b1), "10.8.0.3");
                ck_assert_str_eq(a6(&l2, b2), "fd00:8::3");

                /* Never two live sessions on one address. */
                ck_assert_int_eq(address_pool_acquire(p, "laptop", 102, &l3), -EADDRINUSE);
                ck_assert(address_pool_is_live(p, "laptop"));
                ck_assert_uint_eq(address_pool_n_live(p), 2);

                /* Reconnect: same addresses. */
                ck_assert_int_eq(address_pool_release(p, "laptop", 103), 0);
                ck_assert_int_eq(address_pool_release(p, "laptop", 103), -ENOENT);
                ck_assert_int_eq(address_pool_acquire(p, "laptop", 104, &l3), 0);
                ck_assert(in_addr_equal(AF_INET, &l1.address4, &l3.address4));
                ck_assert(in_addr_equal(AF_INET6, &l1.address6, &l3.address6));
                ck_assert_int_eq(address_pool_acquire(p, "bad name", 105, &l3), -EINVAL);
        }
        /* Restart: the leases come back from the file (none live). */
        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);

                ck_assert_uint_eq(address_pool_n_leases(p), 2);
                ck_assert_uint_eq(address_pool_n_live(p), 0);
                ck_assert_int_eq(address_pool_acquire(p, "phone", 200, &l3), 0);
                ck_assert(in_addr_equal(AF_INET, &l2.address4, &l3.address4));
                ck_assert_int_eq(address_pool_acquire(p, "newcomer", 201, &l3), 0);
                ck_assert_str_eq(a4(&l3, b1), "10.8.0.4");
                ck_assert_int_eq(address_pool_lookup(p, "laptop", &l3), 0);
                ck_assert(in_addr_equal(AF_INET, &l1.address4, &l3.address4));
                ck_assert_int_eq(address_pool_forget(p, "laptop"), 0);
                ck_assert_int_eq(address_pool_lookup(p, "laptop", &l3), -ENOENT);
        }
}
END_TEST

START_TEST(test_full_pool) {
        _cleanup_(address_pool_freep) AddressPool *p = pool_open("10.9.0.0/29", NULL, 0);
        AddressLease l;
        char buf[INET6_ADDRSTRLEN], name[16];

        /* /29: .1 server, .2 … .6 clients, .7 broadcast. */
        ck_assert_uint_eq(address_pool_size(p), 5);
        for (unsigned i = 0; i < 5; i++) {
                snprintf(name, sizeof(name), "c%u", i);
                ck_assert_int_eq(address_pool_acquire(p, name, 10 + i, &l), 0);
                ck_assert(!l.has6);
        }
        ck_assert_str_eq(a4(&l, buf), "10.9.0.6");
        ck_assert_int_eq(address_pool_acquire(p, "late", 20, &l), -ENOSPC);

        /* Once a session ends, its address may go to someone else — the least recently used. */
        ck_assert_int_eq(address_pool_release(p, "c3", 30), 0);
        ck_assert_int_eq(address_pool_release(p, "c1", 31), 0);
        ck_assert_int_eq(address_pool_acquire(p, "late", 40, &l), 0);
        ck_assert_str_eq(a4(&l, buf), "10.9.0.5"); /* c3's, released first */
        ck_assert_int_eq(address_pool_lookup(p, "c3", &l), -ENOENT);
        ck_assert_int_eq(address_pool_lookup(p, "c1", &l), 0);
}
END_TEST

static void write_raw(const char *text) {
        ck_assert_int_eq(write_file_atomic(lease_path, text, strlen(text), 0644), 0);
}

START_TEST(test_corrupt_file) {
        static const char *const bad[] = {
                "garbage\n",
                "fluxify-leases 1\nlease laptop 2 10.8.0.2 fd00:8::2 5\n",                    /* torn: no end */
                "fluxify-leases 1\nlease laptop 2 10.8.0.2 fd00:8::2 5\nend 2\n",             /* count mismatch */
                "fluxify-leases 1\nlease laptop 2 10.8.0.2 fd00:8::2 5\nlease laptop 3 - - 5\nend 2\n",
                "fluxify-leases 1\nlease a 2 - - 5\nlease b 2 - - 5\nend 2\n",               /* duplicate index */
                "fluxify-leases 1\nlease 9bad 2 - - 5\nend 1\n",
                "fluxify-leases 1\nlease a 1 - - 5\nend 1\n",                                 /* server's index */
                "fluxify-leases 1\nlease a 2 10.8.0.x - 5\nend 1\n",
                "fluxify-leases 1\nlease a 2 - - 5 extra\nend 1\n",
                "fluxify-leases 1\nend 0\nlease a 2 - - 5\n",
                "fluxify-leases 1\nend 0",                                                    /* no final newline */
                "fluxify-leases 2\nend 0\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_raw(bad[i]);
                AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, -EBADMSG);
                ck_assert_msg(!p, "case %zu accepted", i);
        }
        /* Detected, not replaced: the damaged file is still there for the admin. */
        {
                _cleanup_(freep) char *buf = NULL;
                size_t n;
                ck_assert_int_eq(read_full_file(lease_path, 4096, &buf, &n), 0);
                ck_assert_str_eq(buf, bad[ELEMENTSOF(bad) - 1]);
        }
        write_raw("# comment\nfluxify-leases 1\nlease a 7 - - 5\nend 1\n");
        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, NULL, 0);
                AddressLease l;
                char buf[INET6_ADDRSTRLEN];
                ck_assert_int_eq(address_pool_lookup(p, "a", &l), 0);
                ck_assert_str_eq(a4(&l, buf), "10.8.0.7");
        }
}
END_TEST

START_TEST(test_crash_mid_write) {
        AddressLease l;
        char buf[INET6_ADDRSTRLEN];
        _cleanup_(freep) char *before = NULL, *tmp = NULL, *now_text = NULL;
        size_t n;

        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);
                ck_assert_int_eq(address_pool_acquire(p, "laptop", 1, &l), 0);
                ck_assert_int_eq(address_pool_acquire(p, "phone", 2, &l), 0);
        }
        ck_assert_int_eq(read_full_file(lease_path, 4096, &before, &n), 0);

        /* A crash while writing the next version: the temporary file is half written and never
         * renamed (write_file_atomic writes "<path>.tmp.XXXXXX", fsyncs, then renames). */
        ck_assert_int_ge(asprintf(&tmp, "%s.tmp.Ab12Cd", lease_path), 0);
        ck_assert_int_eq(write_file_atomic(tmp, before, n / 2, 0644), 0);

        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);
                ck_assert_uint_eq(address_pool_n_leases(p), 2);
                ck_assert_int_eq(address_pool_lookup(p, "phone", &l), 0);
                ck_assert_str_eq(a4(&l, buf), "10.8.0.3");
                /* And the next write succeeds next to the leftover. */
                ck_assert_int_eq(address_pool_acquire(p, "tablet", 3, &l), 0);
        }
        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, 0);
                ck_assert_uint_eq(address_pool_n_leases(p), 3);
        }

        /* A torn file in place (say, copied by hand) is detected. */
        ck_assert_int_eq(read_full_file(lease_path, 4096, &now_text, &n), 0);
        ck_assert_int_eq(write_file_atomic(lease_path, now_text, n - 8, 0644), 0);
        ck_assert_ptr_null(pool_open(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, -EBADMSG));
}
END_TEST

START_TEST(test_write_failure_keeps_state) {
        _cleanup_(address_pool_freep) AddressPool *p = NULL;
        AddressPoolConfig c;
        AddressLease l;
        char bad[160];

        /* The lease file cannot be written: the acquire fails and nothing changes in memory. */
        snprintf(bad, sizeof(bad), "%s/missing-dir/leases", dir);
        ck_assert_int_eq(address_pool_config_from_strings(ADDRESS_POOL_DEFAULT4, NULL, bad, &c), 0);
        ck_assert_int_eq(address_pool_new(&c, &p), 0);
        ck_assert_int_eq(address_pool_acquire(p, "laptop", 1, &l), -ENOENT);
        ck_assert_uint_eq(address_pool_n_leases(p), 0);
        ck_assert(!address_pool_is_live(p, "laptop"));
}
END_TEST

START_TEST(test_forget_failure_keeps_lease) {
        _cleanup_(address_pool_freep) AddressPool *p = pool_open(ADDRESS_POOL_DEFAULT4, NULL, 0);
        AddressLease l;

        ck_assert_int_eq(address_pool_acquire(p, "laptop", 1, &l), 0);
        ck_assert_int_eq(address_pool_release(p, "laptop", 2), 0);
        /* The lease file can no longer be written: forgetting fails and the lease stays, as it
         * does in the file. */
        ck_assert_int_eq(unlink(lease_path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
        ck_assert_int_eq(address_pool_forget(p, "laptop"), -ENOENT);
        ck_assert_uint_eq(address_pool_n_leases(p), 1);
        ck_assert_int_eq(address_pool_lookup(p, "laptop", &l), 0);
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        ck_assert_int_eq(address_pool_forget(p, "laptop"), 0);
        ck_assert_uint_eq(address_pool_n_leases(p), 0);
}
END_TEST

START_TEST(test_shrunk_pool_drops_leases) {
        AddressLease l;
        char buf[INET6_ADDRSTRLEN];

        write_raw("fluxify-leases 1\nlease a 2 - - 5\nlease b 200 - - 6\nend 2\n");
        {
                _cleanup_(address_pool_freep) AddressPool *p = pool_open("10.8.0.0/28", NULL, 0);
                ck_assert_uint_eq(address_pool_n_leases(p), 1);
                ck_assert_int_eq(address_pool_acquire(p, "b", 7, &l), 0);
                ck_assert_str_eq(a4(&l, buf), "10.8.0.3");
        }
}
END_TEST

static Suite *pool_suite(void) {
        Suite *s = suite_create("pool");
        TCase *tc = tcase_create("leases");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults_and_server_address);
        tcase_add_test(tc, test_bad_config);
        tcase_add_test(tc, test_same_name_same_addresses);
        tcase_add_test(tc, test_full_pool);
        tcase_add_test(tc, test_corrupt_file);
        tcase_add_test(tc, test_crash_mid_write);
        tcase_add_test(tc, test_write_failure_keeps_state);
        tcase_add_test(tc, test_forget_failure_keeps_lease);
        tcase_add_test(tc, test_shrunk_pool_drops_leases);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(pool_suite)
