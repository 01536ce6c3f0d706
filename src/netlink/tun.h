/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Flags for tun_open(). IFF_TUN|IFF_NO_PI is always set. */
typedef enum TunFlags {
        TUN_FLAG_VNET_HDR = 1 << 0,    /* IFF_VNET_HDR: every packet is preceded by a virtio_net_hdr */
        TUN_FLAG_MULTI_QUEUE = 1 << 1, /* IFF_MULTI_QUEUE: call tun_open() again with the same name for
                                        * more queues */
        TUN_FLAG_PERSIST = 1 << 2,     /* TUNSETPERSIST: the device outlives the fd (delete with
                                        * tun_delete()) */
} TunFlags;

/* Create a TUN device (or attach to an existing one of that name, e.g. another queue). name may be
 * NULL or empty (kernel picks "tunN") or a template such as "fluxify%d". The fd is O_CLOEXEC and
 * non-blocking. ret_name (a char[IFNAMSIZ] buffer) gets the kernel-assigned name, ret_ifindex its ifindex;
 * both optional. Errors: -EINVAL bad name, -ENOENT no /dev/net/tun, -EPERM, -EBUSY name in use by a
 * non-TUN or incompatible device. */
int tun_open(const char *name, TunFlags flags, int *ret_fd, char *ret_name, int *ret_ifindex);

/* Set TUNSETOFFLOAD bits (TUN_F_CSUM, TUN_F_TSO4, ...) on a TUN opened with TUN_FLAG_VNET_HDR, and
 * the vnet header size. */
int tun_set_offload(int fd, unsigned offload, int vnet_hdr_size);

/* Remove a TUN device by name (crash cleanup of a persistent device or a stale one): deletes the
 * link via rtnetlink. Returns 0 on success, -ENODEV if no such device, -EMEDIUMTYPE if the device
 * exists but is not a TUN (then it is left alone). */
int tun_delete(const char *name);

/* IFF_VNET_HDR packets (virtio_net_hdr without num_buffers: TUN_VNET_HDR_SIZE bytes first). */
#define TUN_VNET_HDR_SIZE 10U

/* Called for each plain IP packet tun_vnet_split() produces; the buffer is only valid during the
 * call. */
typedef void (*TunPacketFunc)(const uint8_t *ip, size_t len, void *userdata);

/* Turns what one read() of a TUN with TUN_FLAG_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM, TUN_F_TSO4,
 * TUN_F_TSO6) returned (header + packet) into plain IP packets with complete checksums: a TCP
 * super-packet (GSO) is cut into gso_size segments (IP length, id and checksum, TCP sequence number,
 * flags and checksum per segment); a partial checksum (NEEDS_CSUM) is completed. Works in place:
 * buf is modified. Returns the number of packets passed to cb, or -EBADMSG for a malformed or
 * unsupported packet (nothing passed). Pure: no I/O. */
int tun_vnet_split(uint8_t *buf, size_t len, TunPacketFunc cb, void *userdata);
