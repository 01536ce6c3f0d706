/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "nft.h"

/* "net.ipv4.ip_forward" → "/proc/sys/net/ipv4/ip_forward"; a key containing '/' is taken as is. */
static int sysctl_path(const char *key, char **ret) {
        char *p;

        assert_return(!isempty(key), -EINVAL);
        assert_return(key[0] != '/' && key[0] != '.', -EINVAL);
        assert_return(!strstr(key, "..") && !strstr(key, "//"), -EINVAL);
        for (const char *c = key; *c; c++)
                if (*c <= ' ' || *c == 0x7f)
                        return -EINVAL;

        if (asprintf(&p, "/proc/sys/%s", key) < 0)
                return -ENOMEM;
        if (!strchr(key, '/'))
                for (char *c = p + strlen("/proc/sys/"); *c; c++)
                        if (*c == '.')
                                *c = '/';
        *ret = p;
        return 0;
}

int sysctl_write(const char *key, const char *value) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -EBADF;
        size_t len;
        ssize_t n;
        int r;

        assert_return(value, -EINVAL);

        r = sysctl_path(key, &path);
        if (r < 0)
                return r;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        len = strlen(value);
        n = write(fd, value, len);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int sysctl_read(const char *key, char **ret_value) {
        _cleanup_(freep) char *path = NULL, *s = NULL;
        size_t n;
        int r;

        assert_return(ret_value, -EINVAL);

        r = sysctl_path(key, &path);
        if (r < 0)
                return r;
        r = read_full_file(path, 4096, &s, &n);
        if (r < 0)
                return r;
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = '\0';
        *ret_value = TAKE_PTR(s);
        return 0;
}

static const char *forward_key(int family) {
        switch (family) {
        case AF_INET:
                return "net/ipv4/ip_forward";
        case AF_INET6:
                return "net/ipv6/conf/all/forwarding";
        default:
                return NULL;
        }
}

int sysctl_ip_forward_get(int family, bool *ret) {
        _cleanup_(freep) char *v = NULL;
        const char *key = forward_key(family);
        int r;

        assert_return(key, -EAFNOSUPPORT);
        assert_return(ret, -EINVAL);

        r = sysctl_read(key, &v);
        if (r < 0)
                return r;
        *ret = !streq(v, "0");
        return 0;
}

int sysctl_ip_forward_set(int family, bool enable, bool *ret_old) {
        const char *key = forward_key(family);
        bool old = false;
        int r;

        assert_return(key, -EAFNOSUPPORT);

        if (ret_old) {
                r = sysctl_ip_forward_get(family, &old);
                if (r < 0)
                        return r;
        }
        r = sysctl_write(key, enable ? "1" : "0");
        if (r < 0)
                return r;
        if (ret_old)
                *ret_old = old;
        return 0;
}
