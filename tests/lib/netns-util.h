/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Network-namespace helpers for kernel-facing tests.
 *
 * netns_enter_new() moves the calling process (a forked check test, typically) into a fresh network
 * namespace with only "lo", brought up. Everything the test does to links, routes, rules and nft is
 * gone when the process exits, so no cleanup can be missed and the host is never touched.
 *
 * Whether namespaces are usable at all is decided once per executable with netns_available(): when
 * they are not, the test program exits 77 (meson's "skip") — unless FLUXIFY_REQUIRE_NETNS is set
 * (CI), in which case it fails. FLUX_CHECK_NETNS_MAIN() does exactly that around FLUX_CHECK_MAIN. */

#define NETNS_EXIT_SKIP 77

/* 0 on success, negative errno on failure. */
int netns_enter_new(void);

/* Probes in a child process whether unshare(CLONE_NEWNET) works here. */
bool netns_available(void);

/* For a test program's main(): returns -1 if namespaces work (carry on), otherwise the exit status
 * the program should end with: 77 (skip), or 1 when FLUXIFY_REQUIRE_NETNS is set. Prints why. */
int netns_require(void);

/* A second (third, ...) namespace for multi-namespace tests: forks a child that unshares its network
 * namespace (lo up) and sleeps until killed (it also dies with its parent). ret_pid is the child;
 * use "/proc/<pid>/ns/net" with nsenter(1) or setns(2), or ret_netns_fd (O_CLOEXEC, optional) with
 * rtnl_link_set_netns(). End it with netns_holder_kill(). */
int netns_holder_new(pid_t *ret_pid, int *ret_netns_fd);
void netns_holder_kill(pid_t pid);

/* Run a shell command (inside the current namespace) and capture its stdout, NUL-terminated;
 * returns its exit status (>= 0) or negative errno. For cross-checks with `ip -j`/`nft -j`. */
int netns_run_capture(const char *cmd, char **ret_out);

#define FLUX_CHECK_NETNS_MAIN(make_suite)                                                               \
        int main(void) {                                                                                 \
                SRunner *sr;                                                                             \
                int failed, r;                                                                           \
                log_open();                                                                              \
                r = netns_require();                                                                     \
                if (r >= 0)                                                                              \
                        return r;                                                                        \
                sr = srunner_create(make_suite());                                                       \
                srunner_run_all(sr, CK_NORMAL);                                                          \
                failed = srunner_ntests_failed(sr);                                                      \
                srunner_free(sr);                                                                        \
                return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                        \
        }
