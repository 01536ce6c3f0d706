/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fd-util.h"
#include "rtnl.h"
#include "tun.h"

static bool ifname_valid_template(const char *name) {
        size_t n = strlen(name);

        if (n >= IFNAMSIZ)
                return false;
        if (streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

int tun_open(const char *name, TunFlags flags, int *ret_fd, char *ret_name, int *ret_ifindex) {
        _cleanup_(closep) int fd = -EBADF;
        struct ifreq ifr = {
                .ifr_flags = IFF_TUN | IFF_NO_PI,
        };
        unsigned idx;

        assert_return(ret_fd, -EINVAL);
        assert_return((flags & ~(TUN_FLAG_VNET_HDR | TUN_FLAG_MULTI_QUEUE | TUN_FLAG_PERSIST)) == 0, -EINVAL);

        if (!isempty(name)) {
                if (!ifname_valid_template(name))
                        return -EINVAL;
                strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
        }
        if (flags & TUN_FLAG_VNET_HDR)
                ifr.ifr_flags |= IFF_VNET_HDR;
        if (flags & TUN_FLAG_MULTI_QUEUE)
                ifr.ifr_flags |= IFF_MULTI_QUEUE;

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;

        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;

        if ((flags & TUN_FLAG_PERSIST) && ioctl(fd, TUNSETPERSIST, 1) < 0)
                return -errno;

        idx = if_nametoindex(ifr.ifr_name);
        if (idx == 0)
                return -errno;

        if (ret_name) {
                memset(ret_name, 0, IFNAMSIZ);
                memcpy(ret_name, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
        }
        if (ret_ifindex)
                *ret_ifindex = (int) idx;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int tun_set_offload(int fd, unsigned offload, int vnet_hdr_size) {
        assert_return(fd >= 0, -EBADF);

        if (vnet_hdr_size > 0 && ioctl(fd, TUNSETVNETHDRSZ, &vnet_hdr_size) < 0)
                return -errno;
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long) offload) < 0)
                return -errno;
        return 0;
}

int tun_delete(const char *name) {
        _cleanup_(rtnl_freep) Rtnl *rtnl = NULL;
        RtnlLink link;
        int r;

        assert_return(!isempty(name) && ifname_valid_template(name) && !strchr(name, '%'), -EINVAL);

        r = rtnl_open(&rtnl);
        if (r < 0)
                return r;
        r = rtnl_link_get_by_name(rtnl, name, &link);
        if (r < 0)
                return r;
        if (!streq(link.kind, "tun"))
                return -EMEDIUMTYPE;
        return rtnl_link_delete(rtnl, link.ifindex);
}
