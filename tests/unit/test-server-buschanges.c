/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BusChangeQueue (src/shared/bus-util.c), which the server and the client use for batched
 * PropertiesChanged: on a peer-to-peer sd-bus pair over a socketpair, any number of marks in one
 * loop iteration give one signal per object and interface, with the union of the names; forgotten
 * objects emit nothing. */
#include <stdio.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "bus-util.h"
#include "check-util.h"
#include "fd-util.h"

#define IFACE "org.fluxify.Test"

static const char *const names[] = { "Alpha", "Beta", "Gamma", NULL };

static int get_u(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                 void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", 7U);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Alpha", "u", get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Beta", "u", get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Gamma", "u", get_u, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

typedef struct Seen {
        unsigned n;
        char paths[8][64];
        char props[8][64]; /* changed property names, comma separated */
} Seen;

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Seen *s = userdata;
        const char *iface, *name;
        char *out;
        int r;

        if (s->n >= 8)
                return 0;
        out = s->props[s->n];
        snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", sd_bus_message_get_path(m));
        r = sd_bus_message_read(m, "s", &iface);
        ck_assert_int_ge(r, 0);
        ck_assert_str_eq(iface, IFACE);
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        ck_assert_int_ge(r, 0);
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                ck_assert_int_ge(sd_bus_message_read(m, "s", &name), 0);
                ck_assert_int_ge(sd_bus_message_skip(m, "v"), 0);
                ck_assert_int_ge(sd_bus_message_exit_container(m), 0);
                if (out[0])
                        strcat(out, ",");
                strcat(out, name);
        }
        s->n++;
        return 0;
}

typedef struct Pair {
        sd_event *event;
        sd_bus *server, *client;
} Pair;

static void pair_open(Pair *p) {
        int fds[2];
        sd_id128_t id;

        ck_assert_int_eq(sd_event_new(&p->event), 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        ck_assert_int_eq(sd_id128_randomize(&id), 0);

        ck_assert_int_eq(sd_bus_new(&p->server), 0);
        ck_assert_int_eq(sd_bus_set_fd(p->server, fds[0], fds[0]), 0);
        ck_assert_int_eq(sd_bus_set_server(p->server, 1, id), 0);
        ck_assert_int_eq(sd_bus_start(p->server), 0);
        ck_assert_int_eq(sd_bus_attach_event(p->server, p->event, 0), 0);

        ck_assert_int_eq(sd_bus_new(&p->client), 0);
        ck_assert_int_eq(sd_bus_set_fd(p->client, fds[1], fds[1]), 0);
        ck_assert_int_eq(sd_bus_start(p->client), 0);
        ck_assert_int_eq(sd_bus_attach_event(p->client, p->event, 0), 0);
}

static void pair_close(Pair *p) {
        sd_bus_flush_close_unref(p->client);
        sd_bus_flush_close_unref(p->server);
        sd_event_unref(p->event);
}

/* Run the loop until nothing is pending for a while. */
static void settle(Pair *p) {
        for (int i = 0; i < 50; i++)
                ck_assert_int_ge(sd_event_run(p->event, 10 * 1000), 0);
}

START_TEST(test_batching) {
        _cleanup_(bus_change_queue_freep) BusChangeQueue *q = NULL;
        Pair p = {};
        Seen seen = {};

        pair_open(&p);
        ck_assert_int_ge(sd_bus_add_fallback_vtable(p.server, NULL, "/test", IFACE, vtable, NULL, NULL), 0);
        ck_assert_int_ge(sd_bus_match_signal(p.client, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", on_changed, &seen),
                         0);
        ck_assert_int_eq(bus_change_queue_new(p.event, p.server, SD_EVENT_PRIORITY_IDLE, &q), 0);
        settle(&p);

        /* Many marks, two objects, one iteration. */
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a", IFACE, names, 1 << 0), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a", IFACE, names, 1 << 0), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a", IFACE, names, 1 << 2), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/b", IFACE, names, 1 << 1), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a", IFACE, names, 0), 0); /* no-op */
        ck_assert_uint_eq(bus_change_queue_pending(q), 2);
        settle(&p);
        ck_assert_uint_eq(bus_change_queue_pending(q), 0);
        ck_assert_uint_eq(seen.n, 2);
        ck_assert_str_eq(seen.paths[0], "/test/a");
        ck_assert_str_eq(seen.props[0], "Alpha,Gamma");
        ck_assert_str_eq(seen.paths[1], "/test/b");
        ck_assert_str_eq(seen.props[1], "Beta");

        /* Forgetting an object (and everything below it) drops its pending changes. */
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a", IFACE, names, 1 << 1), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/a/child", IFACE, names, 1 << 1), 0);
        ck_assert_int_eq(bus_change_queue_mark(q, "/test/ab", IFACE, names, 1 << 1), 0);
        bus_change_queue_forget(q, "/test/a");
        ck_assert_uint_eq(bus_change_queue_pending(q), 1);
        settle(&p);
        ck_assert_uint_eq(seen.n, 3);
        ck_assert_str_eq(seen.paths[2], "/test/ab");

        /* Nothing marked: nothing sent. */
        settle(&p);
        ck_assert_uint_eq(seen.n, 3);

        ck_assert_int_eq(bus_property_bit(names, "Gamma"), 2);
        ck_assert_int_eq(bus_property_bit(names, "Delta"), -ENOENT);
        ck_assert_int_eq(bus_change_queue_mark(q, NULL, IFACE, names, 1), -EINVAL);

        q = bus_change_queue_free(q);
        pair_close(&p);
}
END_TEST

START_TEST(test_many_objects) {
        _cleanup_(bus_change_queue_freep) BusChangeQueue *q = NULL;
        Pair p = {};
        Seen seen = {};

        pair_open(&p);
        ck_assert_int_ge(sd_bus_add_fallback_vtable(p.server, NULL, "/test", IFACE, vtable, NULL, NULL), 0);
        ck_assert_int_eq(bus_change_queue_new(p.event, p.server, SD_EVENT_PRIORITY_IDLE, &q), 0);
        ck_assert_int_ge(sd_bus_match_signal(p.client, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
                                             "PropertiesChanged", on_changed, &seen),
                         0);
        /* More objects than the initial allocation: the queue grows. */
        for (int i = 0; i < 100; i++) {
                char path[32];
                snprintf(path, sizeof(path), "/test/o%d", i);
                ck_assert_int_eq(bus_change_queue_mark(q, path, IFACE, names, 1), 0);
        }
        ck_assert_uint_eq(bus_change_queue_pending(q), 100);
        ck_assert_int_eq(bus_change_queue_flush(q), 0);
        ck_assert_uint_eq(bus_change_queue_pending(q), 0);
        settle(&p);
        ck_assert_uint_eq(seen.n, 8); /* Seen keeps the first 8 */
        q = bus_change_queue_free(q);
        pair_close(&p);
}
END_TEST

static Suite *buschanges_suite(void) {
        Suite *s = suite_create("bus-change-queue");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_batching);
        tcase_add_test(tc, test_many_objects);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(buschanges_suite)
