/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc-util.h"
#include "client-uplink.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "rtnl.h"

const char *const uplink_property_names[] = {
        "State", "LocalAddress", "RemoteAddress", "Priority", "Weight", NULL,
};

/* Object path of a connection: the interface name escaped by sd_bus_path_encode(). Implemented in
 * client-connection-bus.c (the only place that may include sd-bus.h). */
int uplink_bus_path(const char *name, char **ret);

int uplink_new(Manager *m, const char *name, Uplink **ret) {
        _cleanup_(uplink_freep) Uplink *u = NULL;
        const InterfaceConfig *ic;
        Uplink **n;
        int r;

        u = new0(Uplink, 1);
        if (!u)
                return -ENOMEM;
        u->fd = -EBADF;
        u->probe_fd = -EBADF;
        u->name = strdup(name);
        if (!u->name)
                return -ENOMEM;
        r = uplink_bus_path(name, &u->bus_path);
        if (r < 0)
                return r;

        ic = client_config_get_interface(&m->config, name);
        u->priority = ic ? ic->priority : CLIENT_PRIORITY_PRIMARY;
        u->weight = ic ? ic->weight : 1.0;

        n = reallocarray(m->uplinks, m->n_uplinks + 1, sizeof(Uplink *));
        if (!n)
                return -ENOMEM;
        m->uplinks = n;
        m->uplinks[m->n_uplinks++] = u;
        u->manager = m;

        (void) uplink_refresh(u);
        u->last_state = uplink_state_string(u);
        (void) uplink_bus_emit_added(u);
        manager_mark_changed(m, MANAGER_PROP_CONNECTIONS);

        if (ret)
                *ret = u;
        TAKE_PTR(u);
        return 0;
}

Uplink *uplink_free(Uplink *u) {
        if (!u)
                return NULL;

        if (u->manager) {
                Manager *m = u->manager;

                (void) uplink_bus_emit_removed(u);
                if (m->changes)
                        bus_change_queue_forget(m->changes, u->bus_path);
                for (size_t i = 0; i < m->n_uplinks; i++)
                        if (m->uplinks[i] == u) {
                                memmove(m->uplinks + i, m->uplinks + i + 1, (m->n_uplinks - i - 1) * sizeof(Uplink *));
                                m->n_uplinks--;
                                break;
                        }
                manager_mark_changed(m, MANAGER_PROP_CONNECTIONS);
        }

        /* The session has already taken down the data plane (path, socket, control attempt). */
        u->io = sd_event_source_disable_unref(u->io);
        u->fd = safe_close(u->fd);
        u->probe_io = sd_event_source_disable_unref(u->probe_io);
        u->probe_fd = safe_close(u->probe_fd);
        free(u->batch_buf);
        free(u->gro_buf);
        free(u->bus_path);
        free(u->name);
        return mfree(u);
}

int uplink_refresh(Uplink *u) {
        bool was = uplink_is_usable(u);
        _cleanup_(freep) RtnlAddress *addrs = NULL;
        size_t n = 0;
        RtnlLink link;
        int r;

        r = rtnl_link_get_by_name(u->manager->rtnl, u->name, &link);
        if (r < 0) {
                u->ifindex = 0;
                u->carrier = false;
                u->has_address = false;
        } else {
                u->ifindex = link.ifindex;
                u->carrier = rtnl_link_is_up(&link);
                u->has_address = false;
                if (rtnl_address_list(u->manager->rtnl, AF_UNSPEC, link.ifindex, &addrs, &n) >= 0)
                        for (size_t i = 0; i < n; i++)
                                if (addrs[i].scope == RT_SCOPE_UNIVERSE &&
                                    !(addrs[i].flags & IFA_F_TENTATIVE))
                                        u->has_address = true;
        }
        return was != uplink_is_usable(u);
}

bool uplink_is_usable(const Uplink *u) {
        return u->ifindex > 0 && u->carrier && u->has_address;
}

void uplink_mark_changed(Uplink *u, uint64_t bits) {
        if (!u->manager || !u->manager->changes)
                return;
        (void) bus_change_queue_mark(u->manager->changes, u->bus_path, FLUX_CLIENT_CONNECTION_IFACE,
                                     uplink_property_names, bits);
}

void uplink_check_state(Uplink *u) {
        const char *s = uplink_state_string(u);

        if (s == u->last_state)
                return;
        u->last_state = s;
        uplink_mark_changed(u, UPLINK_PROP_STATE);
}

/* UDP GSO limits: the kernel takes at most 64 segments (UDP_MAX_SEGMENTS on older kernels) and
 * one IP datagram's worth of payload per message. */
#define UPLINK_GSO_MAX_SEGMENTS 64U
#define UPLINK_GSO_MAX_BYTES 65000U

typedef union UplinkGsoCmsg {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
} UplinkGsoCmsg;

/* Groups datagrams [start, n) into messages: a run of equal sizes, the last possibly shorter, is one
 * UDP_SEGMENT message. Returns the number of messages; count[] is the datagrams of each. */
static size_t uplink_build_msgs(Uplink *u, size_t start, size_t n, struct iovec *iov, struct mmsghdr *msgs,
                                UplinkGsoCmsg *cm, size_t *count) {
        size_t n_msgs = 0;

        for (size_t i = start; i < n;) {
                size_t j = i + 1, bytes = u->batch_len[i];
                struct msghdr *mh = &msgs[n_msgs].msg_hdr;

                while (!u->gso_off && j < n && j - i < UPLINK_GSO_MAX_SEGMENTS &&
                       u->batch_len[j] <= u->batch_len[i] && bytes + u->batch_len[j] <= UPLINK_GSO_MAX_BYTES) {
                        bytes += u->batch_len[j];
                        if (u->batch_len[j++] < u->batch_len[i])
                                break; /* a shorter datagram ends the run */
                }
                msgs[n_msgs] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = j - i } };
                if (j - i > 1) {
                        uint16_t gso = (uint16_t) u->batch_len[i];
                        struct cmsghdr *c;

                        mh->msg_control = cm[n_msgs].buf;
                        mh->msg_controllen = sizeof(cm[n_msgs].buf);
                        c = CMSG_FIRSTHDR(mh);
                        *c = (struct cmsghdr) { .cmsg_len = CMSG_LEN(sizeof(gso)), .cmsg_level = SOL_UDP,
                                                .cmsg_type = UDP_SEGMENT };
                        memcpy(CMSG_DATA(c), &gso, sizeof(gso));
                }
                count[n_msgs++] = j - i;
                i = j;
        }
        return n_msgs;
}

int uplink_flush_batch(Uplink *u) {
        struct mmsghdr msgs[UPLINK_BATCH_MAX];
        struct iovec iov[UPLINK_BATCH_MAX];
        UplinkGsoCmsg cm[UPLINK_BATCH_MAX];
        size_t count[UPLINK_BATCH_MAX];
        size_t n = u->n_batch, sent = 0, n_msgs, m = 0;

        if (n == 0)
                return 0;
        u->n_batch = 0;
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = u->batch_buf + i * u->batch_slot, .iov_len = u->batch_len[i] };
        n_msgs = uplink_build_msgs(u, 0, n, iov, msgs, cm, count);

        while (m < n_msgs) {
                int k = sendmmsg(u->fd, msgs + m, (unsigned) (n_msgs - m), MSG_DONTWAIT);

                if (k < 0) {
                        int r = -errno;

                        if (r == -EINTR)
                                continue;
                        if (count[m] > 1 && (r == -EIO || r == -EINVAL || r == -ENOPROTOOPT || r == -EOPNOTSUPP)) {
                                /* No GSO on this route (no checksum offload, xfrm, small MTU): send
                                 * the rest one by one from now on. */
                                u->gso_off = true;
                                n_msgs = uplink_build_msgs(u, sent, n, iov, msgs, cm, count);
                                m = 0;
                                continue;
                        }
                        /* What the socket did not take is dropped, like a full queue would: TCP
                         * above recovers. */
                        u->tx_errors += n - sent;
                        return r;
                }
                for (int i = 0; i < k; i++)
                        sent += count[m++];
        }
        return 0;
}

size_t uplink_gro_segment(const struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR((struct msghdr *) mh, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                        int v;

                        memcpy(&v, CMSG_DATA(c), sizeof(v));
                        return v > 0 ? (size_t) v : 0;
                }
        return 0;
}

void uplink_enable_gro(Uplink *u, int fd) {
        int one = 1;

        if (!u->gro_buf)
                u->gro_buf = malloc(UPLINK_GRO_SLOTS * UPLINK_GRO_SLOT_SIZE);
        u->gro = u->gro_buf && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) >= 0;
}
