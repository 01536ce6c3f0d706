/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between rtnl.c and monitor.c; not part of the public API. */

#include <libmnl/libmnl.h>

#include "rtnl.h"

typedef int (*RtnlParse)(const struct nlmsghdr *nlh, void *userdata);

int rtnl_call(Rtnl *rtnl, struct nlmsghdr *nlh, RtnlParse parse, void *userdata);
int rtnl_parse_attrs(const struct nlmsghdr *nlh, size_t header_len, const struct nlattr **tb, unsigned max);

/* Validating parsers: never trust a length; -EBADMSG for malformed messages. */
int rtnl_link_parse(const struct nlmsghdr *nlh, RtnlLink *ret);
int rtnl_address_parse(const struct nlmsghdr *nlh, RtnlAddress *ret);
int rtnl_route_parse(const struct nlmsghdr *nlh, RtnlRoute *ret);
int rtnl_rule_parse(const struct nlmsghdr *nlh, RtnlRule *ret);
