/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "in-addr-util.h"
#include "macro.h"

#define IN_SET_FAMILY(f) ((f) == AF_INET || (f) == AF_INET6)

size_t family_address_size(int family) {
        switch (family) {
        case AF_INET:
                return 4;
        case AF_INET6:
                return 16;
        default:
                return 0;
        }
}

int in_addr_from_string(int family, const char *s, union in_addr_union *ret) {
        union in_addr_union a = {};

        assert_return(s, -EINVAL);
        if (!IN_SET_FAMILY(family))
                return -EAFNOSUPPORT;
        if (inet_pton(family, s, &a) != 1)
                return -EINVAL;
        if (ret)
                *ret = a;
        return 0;
}

int in_addr_from_string_auto(const char *s, int *ret_family, union in_addr_union *ret) {
        int families[] = { AF_INET, AF_INET6 };

        for (size_t i = 0; i < ELEMENTSOF(families); i++)
                if (in_addr_from_string(families[i], s, ret) >= 0) {
                        if (ret_family)
                                *ret_family = families[i];
                        return 0;
                }
        return -EINVAL;
}

int in_addr_prefix_from_string(const char *s, bool allow_bare, int *ret_family, union in_addr_union *ret,
                               uint8_t *ret_prefixlen) {
        char buf[INET6_ADDRSTRLEN + 1];
        const char *slash;
        union in_addr_union a;
        unsigned long plen;
        char *end;
        int family, r;

        assert_return(s, -EINVAL);
        slash = strchr(s, '/');
        if (!slash) {
                if (!allow_bare)
                        return -EINVAL;
                r = in_addr_from_string_auto(s, &family, &a);
                if (r < 0)
                        return r;
                plen = family == AF_INET ? 32 : 128;
        } else {
                if ((size_t) (slash - s) >= sizeof buf)
                        return -EINVAL;
                memcpy(buf, s, (size_t) (slash - s));
                buf[slash - s] = 0;
                r = in_addr_from_string_auto(buf, &family, &a);
                if (r < 0)
                        return r;
                if (slash[1] < '0' || slash[1] > '9')
                        return -EINVAL;
                errno = 0;
                plen = strtoul(slash + 1, &end, 10);
                if (errno || *end || plen > (family == AF_INET ? 32u : 128u))
                        return -EINVAL;
        }
        if (ret_family)
                *ret_family = family;
        if (ret)
                *ret = a;
        if (ret_prefixlen)
                *ret_prefixlen = (uint8_t) plen;
        return 0;
}

int in_addr_to_string(int family, const union in_addr_union *a, char *buf, size_t size) {
        if (!IN_SET_FAMILY(family))
                return -EAFNOSUPPORT;
        if (!inet_ntop(family, a, buf, (socklen_t) size))
                return -errno;
        return 0;
}

bool in_addr_equal(int family, const union in_addr_union *a, const union in_addr_union *b) {
        size_t n = family_address_size(family);
        return n > 0 && memcmp(a, b, n) == 0;
}

bool in_addr_is_null(int family, const union in_addr_union *a) {
        static const union in_addr_union zero = {};
        return in_addr_equal(family, a, &zero);
}

int in_addr_mask(int family, union in_addr_union *a, uint8_t prefixlen) {
        size_t n = family_address_size(family);

        if (n == 0)
                return -EAFNOSUPPORT;
        if (prefixlen > n * 8)
                return -ERANGE;
        for (size_t i = 0; i < n; i++) {
                unsigned bits = prefixlen >= (i + 1) * 8 ? 8 : prefixlen > i * 8 ? prefixlen - i * 8 : 0;
                a->bytes[i] &= (uint8_t) (0xff00u >> bits);
        }
        return 0;
}

bool in_addr_prefix_covers(int family, const union in_addr_union *prefix, uint8_t prefixlen,
                           const union in_addr_union *a) {
        union in_addr_union x = *a, p = *prefix;

        if (in_addr_mask(family, &x, prefixlen) < 0 || in_addr_mask(family, &p, prefixlen) < 0)
                return false;
        return in_addr_equal(family, &x, &p);
}

static int parse_port(const char *s, uint16_t *ret) {
        unsigned long p;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        p = strtoul(s, &end, 10);
        if (errno || *end || p == 0 || p > 65535)
                return -EINVAL;
        *ret = (uint16_t) p;
        return 0;
}

int sockaddr_from_string(const char *s, uint16_t default_port, union sockaddr_union *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *port_str = NULL;
        union in_addr_union a;
        uint16_t port = default_port;
        int family, r;
        size_t hl;

        assert_return(s, -EINVAL);
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close)
                        return -EINVAL;
                hl = (size_t) (close - s - 1);
                if (hl >= sizeof host)
                        return -EINVAL;
                memcpy(host, s + 1, hl);
                host[hl] = 0;
                if (close[1] == ':')
                        port_str = close + 2;
                else if (close[1] != '\0')
                        return -EINVAL;
        } else {
                const char *colon = strchr(s, ':');
                if (colon && strchr(colon + 1, ':'))
                        colon = NULL; /* bare IPv6 address without port */
                hl = colon ? (size_t) (colon - s) : strlen(s);
                if (hl >= sizeof host)
                        return -EINVAL;
                memcpy(host, s, hl);
                host[hl] = 0;
                if (colon)
                        port_str = colon + 1;
        }
        if (port_str) {
                r = parse_port(port_str, &port);
                if (r < 0)
                        return r;
        }
        if (port == 0)
                return -EINVAL;
        r = in_addr_from_string_auto(host, &family, &a);
        if (r < 0)
                return r;

        if (ret) {
                *ret = (union sockaddr_union) {};
                if (family == AF_INET) {
                        ret->in.sin_family = AF_INET;
                        ret->in.sin_port = htons(port);
                        ret->in.sin_addr = a.in;
                } else {
                        ret->in6.sin6_family = AF_INET6;
                        ret->in6.sin6_port = htons(port);
                        ret->in6.sin6_addr = a.in6;
                }
        }
        if (ret_len)
                *ret_len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        return 0;
}

int sockaddr_to_string(const union sockaddr_union *sa, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN];

        switch (sa->sa.sa_family) {
        case AF_INET:
                if (!inet_ntop(AF_INET, &sa->in.sin_addr, a, sizeof a))
                        return -errno;
                snprintf(buf, size, "%s:%u", a, ntohs(sa->in.sin_port));
                return 0;
        case AF_INET6:
                if (IN6_IS_ADDR_V4MAPPED(&sa->in6.sin6_addr)) {
                        if (!inet_ntop(AF_INET, &sa->in6.sin6_addr.s6_addr[12], a, sizeof a))
                                return -errno;
                        snprintf(buf, size, "%s:%u", a, ntohs(sa->in6.sin6_port));
                        return 0;
                }
                if (!inet_ntop(AF_INET6, &sa->in6.sin6_addr, a, sizeof a))
                        return -errno;
                snprintf(buf, size, "[%s]:%u", a, ntohs(sa->in6.sin6_port));
                return 0;
        default:
                return -EAFNOSUPPORT;
        }
}

bool sockaddr_equal(const union sockaddr_union *a, const union sockaddr_union *b) {
        if (a->sa.sa_family != b->sa.sa_family)
                return false;
        if (a->sa.sa_family == AF_INET)
                return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
        if (a->sa.sa_family == AF_INET6)
                return a->in6.sin6_port == b->in6.sin6_port &&
                       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
        return false;
}

uint16_t sockaddr_port(const union sockaddr_union *sa) {
        if (sa->sa.sa_family == AF_INET)
                return ntohs(sa->in.sin_port);
        if (sa->sa.sa_family == AF_INET6)
                return ntohs(sa->in6.sin6_port);
        return 0;
}

socklen_t sockaddr_len(const union sockaddr_union *sa) {
        return sa->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}
