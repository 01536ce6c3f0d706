/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "flux-errors.h"
#include "in-addr-util.h"
#include "time-util.h"

START_TEST(test_prefix_parse) {
        union in_addr_union a, b;
        uint8_t plen;
        int family;
        char buf[IN_ADDR_PREFIX_STR_MAX];

        ck_assert_int_eq(in_addr_prefix_from_string("10.8.0.0/24", false, &family, &a, &plen), 0);
        ck_assert_int_eq(family, AF_INET);
        ck_assert_int_eq(plen, 24);
        ck_assert_int_eq(in_addr_from_string(AF_INET, "10.8.0.77", &b), 0);
        ck_assert(in_addr_prefix_covers(AF_INET, &a, plen, &b));
        ck_assert_int_eq(in_addr_from_string(AF_INET, "10.8.1.77", &b), 0);
        ck_assert(!in_addr_prefix_covers(AF_INET, &a, plen, &b));

        ck_assert_int_eq(in_addr_prefix_from_string("fd00:8::/64", false, &family, &a, &plen), 0);
        ck_assert_int_eq(family, AF_INET6);
        ck_assert_int_eq(plen, 64);
        ck_assert_int_eq(in_addr_to_string(family, &a, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "fd00:8::");

        ck_assert_int_lt(in_addr_prefix_from_string("10.8.0.0/33", false, NULL, NULL, NULL), 0);
        ck_assert_int_lt(in_addr_prefix_from_string("10.8.0.0", false, NULL, NULL, NULL), 0);
        ck_assert_int_eq(in_addr_prefix_from_string("10.8.0.0", true, NULL, NULL, &plen), 0);
        ck_assert_int_eq(plen, 32);
        ck_assert_int_lt(in_addr_prefix_from_string("10.8.0.0/", false, NULL, NULL, NULL), 0);
        ck_assert_int_lt(in_addr_prefix_from_string("bogus/8", false, NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(test_sockaddr) {
        union sockaddr_union sa;
        char buf[SOCKADDR_STR_MAX];

        ck_assert_int_eq(sockaddr_from_string("192.168.1.1:8443", 0, &sa, NULL), 0);
        ck_assert_int_eq(sockaddr_port(&sa), 8443);
        ck_assert_int_eq(sockaddr_to_string(&sa, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "192.168.1.1:8443");

        ck_assert_int_eq(sockaddr_from_string("[fd00::1]:8000", 0, &sa, NULL), 0);
        ck_assert_int_eq(sockaddr_to_string(&sa, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "[fd00::1]:8000");

        ck_assert_int_eq(sockaddr_from_string("fd00::1", 8443, &sa, NULL), 0);
        ck_assert_int_eq(sockaddr_port(&sa), 8443);
        ck_assert_int_eq(sockaddr_from_string("10.0.0.1", 8443, &sa, NULL), 0);
        ck_assert_int_eq(sockaddr_port(&sa), 8443);

        ck_assert_int_lt(sockaddr_from_string("10.0.0.1:0", 1, &sa, NULL), 0);
        ck_assert_int_lt(sockaddr_from_string("10.0.0.1:65536", 1, &sa, NULL), 0);
        ck_assert_int_lt(sockaddr_from_string("10.0.0.1", 0, &sa, NULL), 0);
        ck_assert_int_lt(sockaddr_from_string("[fd00::1", 1, &sa, NULL), 0);
        ck_assert_int_lt(sockaddr_from_string("example.org:1", 1, &sa, NULL), 0);
}
END_TEST

START_TEST(test_atomic_write) {
        char dir[] = "/tmp/flux-test-XXXXXX", path[128];
        _cleanup_(freep) char *data = NULL;
        struct stat st;
        size_t size;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/a/b/file", dir);
        ck_assert_int_eq(mkdir_p(path, 0700), 0); /* creates .../file as a directory */
        ck_assert_int_eq(rmdir(path), 0);
        ck_assert_int_eq(write_file_atomic(path, "hello", 5, 0600), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(read_full_file(path, 100, &data, &size), 0);
        ck_assert_uint_eq(size, 5);
        ck_assert_str_eq(data, "hello");
        ck_assert_int_eq(read_full_file(path, 4, &data, &size), -EFBIG);
        ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(test_profile_names) {
        ck_assert(flux_profile_name_is_valid("laptop"));
        ck_assert(flux_profile_name_is_valid("a_1"));
        ck_assert(!flux_profile_name_is_valid("1abc"));
        ck_assert(!flux_profile_name_is_valid("a-b"));
        ck_assert(!flux_profile_name_is_valid(""));
        ck_assert(!flux_profile_name_is_valid("a234567890123456789012345678901234"));
}
END_TEST

START_TEST(test_format) {
        char buf[64];
        ck_assert_str_eq(format_timespan(buf, sizeof buf, 1500 * USEC_PER_MSEC), "1.50s");
        ck_assert_str_eq(format_timespan(buf, sizeof buf, 250 * USEC_PER_MSEC), "250.0ms");
        ck_assert_str_eq(format_rate(buf, sizeof buf, 12500000 / 8 * 8), "100.0 Mbit/s");
        ck_assert_str_eq(format_bytes(buf, sizeof buf, 1536), "1.5 KiB");
}
END_TEST

static Suite *shared_suite(void) {
        Suite *s = suite_create("shared");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_prefix_parse);
        tcase_add_test(tc, test_sockaddr);
        tcase_add_test(tc, test_atomic_write);
        tcase_add_test(tc, test_profile_names);
        tcase_add_test(tc, test_format);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(shared_suite)
