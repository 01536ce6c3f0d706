/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "alloc-util.h"
#include "monitor.h"
#include "rtnl-internal.h"

/* Datagrams read per wake-up: enough to drain a burst (an interface going away emits a dozen
 * messages), small enough to give other event sources their turn. */
#define MONITOR_BATCH 32
#define MONITOR_RCVBUF (4U * 1024U * 1024U)
#define MONITOR_BUFFER_SIZE (32U * 1024U)

struct RtnlMonitor {
        struct mnl_socket *nl;
        sd_event_source *io;
        RtnlMonitorHandler handler;
        void *userdata;
        uint8_t *buf;
        unsigned dispatching;           /* inside the handler */
        bool free_requested;            /* freed by the handler: finish when it returns */
};

static const char *const rtnl_event_type_table[_RTNL_EVENT_TYPE_MAX] = {
        [RTNL_EVENT_LINK_NEW] = "link-new",
        [RTNL_EVENT_LINK_REMOVED] = "link-removed",
        [RTNL_EVENT_ADDRESS_ADDED] = "address-added",
        [RTNL_EVENT_ADDRESS_REMOVED] = "address-removed",
        [RTNL_EVENT_ROUTE_ADDED] = "route-added",
        [RTNL_EVENT_ROUTE_REMOVED] = "route-removed",
        [RTNL_EVENT_RESYNC] = "resync",
};

const char *rtnl_event_type_to_string(RtnlEventType t) {
        if ((int) t < 0 || (size_t) t >= ELEMENTSOF(rtnl_event_type_table))
                return NULL;
        return rtnl_event_type_table[t];
}

static void monitor_destroy(RtnlMonitor *m) {
        m->io = sd_event_source_disable_unref(m->io);
        if (m->nl)
                mnl_socket_close(m->nl);
        free(m->buf);
        free(m);
}

/* Returns false if the handler freed the monitor (it is gone then). */
static bool monitor_dispatch(RtnlMonitor *m, const RtnlEvent *ev) {
        /* A consumer's error is its own business (it logs); the monitor keeps going. */
        m->dispatching++;
        (void) m->handler(m, ev, m->userdata);
        if (--m->dispatching == 0 && m->free_requested) {
                monitor_destroy(m);
                return false;
        }
        return true;
}

static bool monitor_handle_message(RtnlMonitor *m, const struct nlmsghdr *nlh) {
        RtnlEvent ev = {};

        switch (nlh->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
                if (rtnl_link_parse(nlh, &ev.link) < 0)
                        return true;
                ev.type = nlh->nlmsg_type == RTM_NEWLINK ? RTNL_EVENT_LINK_NEW : RTNL_EVENT_LINK_REMOVED;
                break;
        case RTM_NEWADDR:
        case RTM_DELADDR:
                if (rtnl_address_parse(nlh, &ev.address) < 0)
                        return true;
                ev.type = nlh->nlmsg_type == RTM_NEWADDR ? RTNL_EVENT_ADDRESS_ADDED : RTNL_EVENT_ADDRESS_REMOVED;
                break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE: {
                const struct rtmsg *rtm;

                if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
                        return true;
                rtm = mnl_nlmsg_get_payload(nlh);
                if (rtm->rtm_flags & RTM_F_CLONED)
                        return true;
                if (rtnl_route_parse(nlh, &ev.route) < 0)
                        return true;
                ev.type = nlh->nlmsg_type == RTM_NEWROUTE ? RTNL_EVENT_ROUTE_ADDED : RTNL_EVENT_ROUTE_REMOVED;
                break;
        }
        default:
                return true;
        }
        return monitor_dispatch(m, &ev);
}

static int monitor_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RtnlMonitor *m = userdata;

        for (unsigned i = 0; i < MONITOR_BATCH; i++) {
                ssize_t n;
                int len;

                n = recv(fd, m->buf, MONITOR_BUFFER_SIZE, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == ENOBUFS) {
                                /* The kernel dropped messages for us: state must be re-read. */
                                if (!monitor_dispatch(m, &(RtnlEvent) { .type = RTNL_EVENT_RESYNC }))
                                        return 0;
                                continue;
                        }
                        return 0; /* transient; the source stays armed */
                }
                len = (int) n;
                for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) m->buf; mnl_nlmsg_ok(nlh, len);
                     nlh = mnl_nlmsg_next(nlh, &len))
                        if (!monitor_handle_message(m, nlh))
                                return 0;
        }
        /* Batch exhausted: more may be queued; sd-event calls us again on the next iteration since
         * the fd is still readable (level-triggered). */
        return 0;
}

int rtnl_monitor_new(sd_event *event, RtnlMonitorGroups groups, RtnlMonitorHandler handler, void *userdata,
                     RtnlMonitor **ret) {
        _cleanup_(rtnl_monitor_freep) RtnlMonitor *m = NULL;
        unsigned mask = 0;
        int r, fd, sz = MONITOR_RCVBUF;

        assert_return(event && handler && ret, -EINVAL);
        assert_return(groups != 0, -EINVAL);
        assert_return((groups & ~(RTNL_MONITOR_LINK | RTNL_MONITOR_ADDRESS | RTNL_MONITOR_ROUTE)) == 0, -EINVAL);

        if (groups & RTNL_MONITOR_LINK)
                mask |= RTMGRP_LINK;
        if (groups & RTNL_MONITOR_ADDRESS)
                mask |= RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        if (groups & RTNL_MONITOR_ROUTE)
                mask |= RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;

        m = new0(RtnlMonitor, 1);
        if (!m)
                return -ENOMEM;
        m->handler = handler;
        m->userdata = userdata;
        m->buf = malloc(MONITOR_BUFFER_SIZE);
        if (!m->buf)
                return -ENOMEM;

        m->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!m->nl)
                return -errno;
        fd = mnl_socket_get_fd(m->nl);
        /* A larger buffer makes ENOBUFS rare; FORCE needs CAP_NET_ADMIN, which the daemons have. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        if (mnl_socket_bind(m->nl, mask, MNL_SOCKET_AUTOPID) < 0)
                return -errno;

        r = sd_event_add_io(event, &m->io, fd, EPOLLIN, monitor_io, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->io, "rtnl-monitor");

        *ret = TAKE_PTR(m);
        return 0;
}

int rtnl_monitor_set_priority(RtnlMonitor *m, int64_t priority) {
        assert_return(m, -EINVAL);
        return sd_event_source_set_priority(m->io, priority);
}

RtnlMonitor *rtnl_monitor_free(RtnlMonitor *m) {
        if (!m)
                return NULL;
        if (m->dispatching > 0) {
                /* From inside the handler: no more events; freed when the handler returns. */
                m->io = sd_event_source_disable_unref(m->io);
                m->free_requested = true;
                return NULL;
        }
        monitor_destroy(m);
        return NULL;
}
