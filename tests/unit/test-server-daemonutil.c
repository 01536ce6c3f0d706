/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon-util: sd_notify() helpers against a real NOTIFY_SOCKET, directory resolution. */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "daemon-util.h"
#include "fd-util.h"

static int notify_socket(char *path, size_t size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = 2 };
        int fd;

        snprintf(path, size, "/tmp/test-notify-%d", getpid());
        (void) unlink(path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
        return fd;
}

static void expect(int fd, const char *want) {
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        if (!strstr(buf, want))
                ck_abort_msg("expected '%s' in '%s'", want, buf);
}

START_TEST(test_notify) {
        _cleanup_(closep) int fd = -EBADF;
        char path[64];

        fd = notify_socket(path, sizeof(path));
        ck_assert_int_gt(notify_ready(), 0);
        expect(fd, "READY=1");
        ck_assert_int_gt(notify_ready_status("%u sessions, %u paths up", 3U, 7U), 0);
        expect(fd, "READY=1\nSTATUS=3 sessions, 7 paths up");
        ck_assert_int_gt(notify_status("hello %s", "world"), 0);
        expect(fd, "STATUS=hello world");
        ck_assert_int_gt(notify_reloading(), 0);
        expect(fd, "RELOADING=1");
        ck_assert_int_gt(notify_stopping(), 0);
        expect(fd, "STOPPING=1");
        ck_assert_int_gt(notify_errno(-ENOENT), 0);
        expect(fd, "ERRNO=2");
        (void) unlink(path);

        /* Without a service manager every helper is a no-op. */
        ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
        ck_assert_int_eq(notify_ready(), 0);
        ck_assert_int_eq(notify_status("x"), 0);
}
END_TEST

START_TEST(test_resolve_dir) {
        char *d = NULL;

        ck_assert_int_eq(unsetenv("TEST_DIR"), 0);
        ck_assert_int_eq(daemon_resolve_dir("/from/arg/", "TEST_DIR", "/fallback", &d), 0);
        ck_assert_str_eq(d, "/from/arg");
        d = mfree(d);
        ck_assert_int_eq(daemon_resolve_dir(NULL, "TEST_DIR", "/fallback", &d), 0);
        ck_assert_str_eq(d, "/fallback");
        d = mfree(d);
        ck_assert_int_eq(setenv("TEST_DIR", "/from/env", 1), 0);
        ck_assert_int_eq(daemon_resolve_dir(NULL, "TEST_DIR", "/fallback", &d), 0);
        ck_assert_str_eq(d, "/from/env");
        d = mfree(d);
        ck_assert_int_eq(daemon_resolve_dir("", "TEST_DIR", "/fallback", &d), 0);
        ck_assert_str_eq(d, "/from/env");
        d = mfree(d);
        ck_assert_int_eq(daemon_resolve_dir("relative", "TEST_DIR", "/fallback", &d), -EINVAL);
        ck_assert_int_eq(setenv("TEST_DIR", "also/relative", 1), 0);
        ck_assert_int_eq(daemon_resolve_dir(NULL, "TEST_DIR", "/fallback", &d), -EINVAL);
        ck_assert_int_eq(daemon_resolve_dir("/", NULL, NULL, &d), 0);
        ck_assert_str_eq(d, "/");
        free(d);
}
END_TEST

static Suite *daemonutil_suite(void) {
        Suite *s = suite_create("daemon-util");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_notify);
        tcase_add_test(tc, test_resolve_dir);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(daemonutil_suite)
