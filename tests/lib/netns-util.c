/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns-util.h"

static int loopback_up(void) {
        struct ifreq ifr = {};
        int fd, r = 0;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        else {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                        r = -errno;
        }
        close(fd);
        return r;
}

int netns_enter_new(void) {
        if (unshare(CLONE_NEWNET) < 0)
                return -errno;
        return loopback_up();
}

bool netns_available(void) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return false;
        if (pid == 0)
                _exit(netns_enter_new() < 0 ? 1 : 0);
        if (waitpid(pid, &status, 0) < 0)
                return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int netns_require(void) {
        const char *e;

        if (netns_available())
                return -1;
        e = getenv("FLUXIFY_REQUIRE_NETNS");
        if (e && *e && strcmp(e, "0") != 0) {
                fprintf(stderr, "Network namespaces are unavailable (unshare(CLONE_NEWNET) failed), "
                                "and FLUXIFY_REQUIRE_NETNS is set: failing.\n");
                return EXIT_FAILURE;
        }
        fprintf(stderr, "Network namespaces are unavailable (unshare(CLONE_NEWNET) failed): skipping.\n");
        return NETNS_EXIT_SKIP;
}

int netns_holder_new(pid_t *ret_pid, int *ret_netns_fd) {
        int pipefd[2], r = 0;
        char path[64], c;
        pid_t pid, parent = getpid();
        ssize_t n;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                close(pipefd[0]);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                c = netns_enter_new() < 0 ? 'E' : 'K';
                if (write(pipefd[1], &c, 1) != 1 || c != 'K')
                        _exit(1);
                for (;;)
                        pause();
        }
        close(pipefd[1]);
        do
                n = read(pipefd[0], &c, 1);
        while (n < 0 && errno == EINTR);
        close(pipefd[0]);
        if (n != 1 || c != 'K') {
                netns_holder_kill(pid);
                return -EPERM;
        }
        if (ret_netns_fd) {
                snprintf(path, sizeof path, "/proc/%d/ns/net", (int) pid);
                *ret_netns_fd = open(path, O_RDONLY | O_CLOEXEC);
                if (*ret_netns_fd < 0) {
                        r = -errno;
                        netns_holder_kill(pid);
                        return r;
                }
        }
        *ret_pid = pid;
        return 0;
}

void netns_holder_kill(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

int netns_run_capture(const char *cmd, char **ret_out) {
        char *buf = NULL;
        size_t size = 0, n = 0;
        FILE *f;
        int status;

        f = popen(cmd, "re");
        if (!f)
                return -errno;
        for (;;) {
                size_t k;

                if (n + 4096 + 1 > size) {
                        char *t = realloc(buf, size + 65536);
                        if (!t) {
                                free(buf);
                                pclose(f);
                                return -ENOMEM;
                        }
                        buf = t;
                        size += 65536;
                }
                k = fread(buf + n, 1, size - n - 1, f);
                if (k == 0)
                        break;
                n += k;
        }
        buf[n] = '\0';
        status = pclose(f);
        if (status < 0) {
                free(buf);
                return -errno;
        }
        if (ret_out)
                *ret_out = buf;
        else
                free(buf);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
