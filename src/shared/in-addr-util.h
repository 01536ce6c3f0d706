/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

union in_addr_union {
        struct in_addr in;
        struct in6_addr in6;
        uint8_t bytes[16];
};

union sockaddr_union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage storage;
};

/* Longest "[v6addr%scope]:port" plus NUL. */
#define SOCKADDR_STR_MAX (INET6_ADDRSTRLEN + 16)
#define IN_ADDR_PREFIX_STR_MAX (INET6_ADDRSTRLEN + 4)

size_t family_address_size(int family);
int in_addr_from_string(int family, const char *s, union in_addr_union *ret);
/* Family-agnostic: tries v4 then v6. */
int in_addr_from_string_auto(const char *s, int *ret_family, union in_addr_union *ret);
/* "10.8.0.0/24" → address and prefix length; prefix is required unless allow_bare. */
int in_addr_prefix_from_string(const char *s, bool allow_bare, int *ret_family, union in_addr_union *ret,
                               uint8_t *ret_prefixlen);
int in_addr_to_string(int family, const union in_addr_union *a, char *buf, size_t size);
bool in_addr_equal(int family, const union in_addr_union *a, const union in_addr_union *b);
bool in_addr_is_null(int family, const union in_addr_union *a);
/* Mask a to its first prefixlen bits. */
int in_addr_mask(int family, union in_addr_union *a, uint8_t prefixlen);
/* Is a inside prefix/prefixlen? */
bool in_addr_prefix_covers(int family, const union in_addr_union *prefix, uint8_t prefixlen,
                           const union in_addr_union *a);

/* "1.2.3.4:8000", "[fd00::1]:8000", "host" (with default_port) → sockaddr; numeric only. */
int sockaddr_from_string(const char *s, uint16_t default_port, union sockaddr_union *ret, socklen_t *ret_len);
/* "1.2.3.4:8000" or "[fd00::1]:8000" */
int sockaddr_to_string(const union sockaddr_union *sa, char *buf, size_t size);
bool sockaddr_equal(const union sockaddr_union *a, const union sockaddr_union *b);
uint16_t sockaddr_port(const union sockaddr_union *sa);
socklen_t sockaddr_len(const union sockaddr_union *sa);
