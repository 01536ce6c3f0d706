/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
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

/* One's-complement sum of 16-bit words in memory order (RFC 1071: the byte order does not matter
 * as long as the result is stored the same way). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n) {
        while (n >= 4) {
                uint32_t w;
                memcpy(&w, p, 4);
                sum += w;
                p += 4;
                n -= 4;
        }
        if (n >= 2) {
                uint16_t w;
                memcpy(&w, p, 2);
                sum += w;
                p += 2;
                n -= 2;
        }
        if (n > 0) {
                uint8_t b[2] = { p[0], 0 };
                uint16_t w;
                memcpy(&w, b, 2);
                sum += w;
        }
        return sum;
}

static uint16_t csum_fold(uint64_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

static void put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

/* A partial checksum: the field holds the pseudo-header sum; sum from start to the end. */
static int finish_csum(uint8_t *pkt, size_t len, size_t start, size_t offset) {
        uint16_t c;

        if (start >= len || offset + 2 > len - start)
                return -EBADMSG;
        c = csum_fold(csum_add(0, pkt + start, len - start));
        memcpy(pkt + start + offset, &c, 2);
        return 0;
}

/* Cuts a TCP super-packet into segments of at most mss payload bytes, in place: segment i's
 * headers are written just before its payload, over bytes already handed out. */
static int split_tcp(uint8_t *pkt, size_t len, size_t l4, size_t mss, TunPacketFunc cb, void *userdata) {
        uint8_t hdr[60 + 60];
        bool v4 = (pkt[0] >> 4) == 4;
        size_t thl, hl, payload, n = 0;
        uint32_t seq;
        uint16_t id = 0;
        uint8_t flags;

        if (l4 + 20 > len || mss == 0)
                return -EBADMSG;
        thl = (size_t) (pkt[l4 + 12] >> 4) * 4;
        hl = l4 + thl;
        if (thl < 20 || hl > len || hl > sizeof(hdr))
                return -EBADMSG;
        if (v4 ? pkt[9] != IPPROTO_TCP : pkt[6] != IPPROTO_TCP)
                return -EBADMSG; /* IPv6 extension headers: not produced by this kernel's TSO */
        memcpy(hdr, pkt, hl);
        payload = len - hl;
        seq = (uint32_t) hdr[l4 + 4] << 24 | (uint32_t) hdr[l4 + 5] << 16 | (uint32_t) hdr[l4 + 6] << 8 | hdr[l4 + 7];
        flags = hdr[l4 + 13];
        if (v4)
                id = get_be16(hdr + 4);

        for (size_t off = 0; off < payload || (payload == 0 && n == 0); off += mss) {
                size_t seg = MIN(mss, payload - off);
                uint8_t *p = pkt + off; /* headers go right before this segment's payload */
                uint32_t sq = seq + (uint32_t) off;
                uint64_t sum;
                uint16_t c;
                bool last = off + seg >= payload;

                memmove(p, hdr, hl);
                if (v4) {
                        put_be16(p + 2, (uint16_t) (hl + seg));
                        put_be16(p + 4, (uint16_t) (id + n));
                        p[10] = p[11] = 0;
                        c = csum_fold(csum_add(0, p, l4));
                        memcpy(p + 10, &c, 2);
                } else
                        put_be16(p + 4, (uint16_t) (hl + seg - 40));
                p[l4 + 4] = (uint8_t) (sq >> 24);
                p[l4 + 5] = (uint8_t) (sq >> 16);
                p[l4 + 6] = (uint8_t) (sq >> 8);
                p[l4 + 7] = (uint8_t) sq;
                p[l4 + 13] = flags;
                if (!last)
                        p[l4 + 13] &= (uint8_t) ~0x09;  /* FIN, PSH only on the last */
                if (n > 0)
                        p[l4 + 13] &= (uint8_t) ~0x80;  /* CWR only on the first */
                p[l4 + 16] = p[l4 + 17] = 0;

                /* Pseudo-header: addresses, protocol, TCP length. */
                {
                        uint8_t ph[4] = { 0, IPPROTO_TCP, (uint8_t) ((thl + seg) >> 8), (uint8_t) (thl + seg) };
                        sum = v4 ? csum_add(0, p + 12, 8) : csum_add(0, p + 8, 32);
                        sum = csum_add(sum, ph, 4);
                }
                sum = csum_add(sum, p + l4, thl + seg);
                c = csum_fold(sum);
                memcpy(p + l4 + 16, &c, 2);
                cb(p, hl + seg, userdata);
                n++;
                if (payload == 0)
                        break;
        }
        return (int) n;
}

int tun_vnet_split(uint8_t *buf, size_t len, TunPacketFunc cb, void *userdata) {
        struct virtio_net_hdr h;
        uint8_t *pkt = buf + TUN_VNET_HDR_SIZE;
        size_t plen, l4;
        uint8_t gso;
        int r;

        assert_return(cb, -EINVAL);
        if (len <= TUN_VNET_HDR_SIZE)
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        plen = len - TUN_VNET_HDR_SIZE;
        if ((pkt[0] >> 4) == 4) {
                if (plen < 20 || (pkt[0] & 0xf) < 5 || (size_t) (pkt[0] & 0xf) * 4 > plen)
                        return -EBADMSG;
                l4 = (size_t) (pkt[0] & 0xf) * 4;
        } else if ((pkt[0] >> 4) == 6) {
                if (plen < 40)
                        return -EBADMSG;
                l4 = 40;
        } else
                return -EBADMSG;

        gso = h.gso_type & (uint8_t) ~VIRTIO_NET_HDR_GSO_ECN;
        switch (gso) {
        case VIRTIO_NET_HDR_GSO_NONE:
                if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
                        r = finish_csum(pkt, plen, h.csum_start, h.csum_offset);
                        if (r < 0)
                                return r;
                }
                cb(pkt, plen, userdata);
                return 1;
        case VIRTIO_NET_HDR_GSO_TCPV4:
        case VIRTIO_NET_HDR_GSO_TCPV6:
                if ((gso == VIRTIO_NET_HDR_GSO_TCPV4) != ((pkt[0] >> 4) == 4))
                        return -EBADMSG;
                if (plen - l4 < 20)
                        return -EBADMSG;
                return split_tcp(pkt, plen, l4, h.gso_size, cb, userdata);
        default:
                return -EBADMSG;
        }
}
