/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "bus-util.h"

int bus_open_system_attached(sd_event *event, const char *description, int64_t priority, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        assert_return(event && ret, -EINVAL);

        r = sd_bus_open_system_with_description(&bus, description);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, event, priority);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* RequestName() replies, D-Bus specification "Message Bus Messages". */
enum {
        NAME_PRIMARY_OWNER = 1,
        NAME_IN_QUEUE = 2,
        NAME_EXISTS = 3,
        NAME_ALREADY_OWNER = 4,
};

sd_bus *bus_flush_close_unref(sd_bus *bus) {
        return sd_bus_flush_close_unref(bus);
}

typedef struct NameRequest {
        bus_name_done_t done;
        void *userdata;
} NameRequest;

static int request_name_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(freep) NameRequest *req = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        uint32_t reply;
        int r;

        if (e) {
                r = sd_bus_error_get_errno(e);
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                        r = EACCES;
                req->done(req->userdata, -abs(r ?: EIO), e->message);
                return 0;
        }
        r = sd_bus_message_read(m, "u", &reply);
        if (r < 0) {
                req->done(req->userdata, r, "Malformed RequestName reply");
                return 0;
        }
        switch (reply) {
        case NAME_PRIMARY_OWNER:
        case NAME_ALREADY_OWNER:
                req->done(req->userdata, 0, NULL);
                break;
        case NAME_EXISTS:
        case NAME_IN_QUEUE:
        default:
                req->done(req->userdata, -EEXIST, "The name is already owned by another process");
                break;
        }
        return 0;
}

int bus_request_name_async_done(sd_bus *bus, const char *name, bus_name_done_t done, void *userdata) {
        _cleanup_(freep) NameRequest *req = NULL;
        int r;

        assert_return(bus && name && done, -EINVAL);

        req = new0(NameRequest, 1);
        if (!req)
                return -ENOMEM;
        req->done = done;
        req->userdata = userdata;

        /* Called directly rather than through sd_bus_request_name_async(), whose default callback
         * only logs: we want the reply. Flags 0x4 = DBUS_NAME_FLAG_DO_NOT_QUEUE. The slot is
         * floating: it lives until the reply comes, owning req. */
        r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "RequestName", request_name_reply, req, "su", name,
                                     (uint32_t) 4);
        if (r < 0)
                return r;
        TAKE_PTR(req);
        return 0;
}

typedef struct BusChange {
        char *path;
        const char *interface; /* static string (not copied) */
        const char *const *names;
        uint64_t bits;
} BusChange;

struct BusChangeQueue {
        sd_bus *bus;
        sd_event_source *defer;
        BusChange *changes;
        size_t n, allocated;
};

static int on_flush(sd_event_source *s, void *userdata) {
        (void) bus_change_queue_flush(userdata);
        return 0;
}

int bus_change_queue_new(sd_event *event, sd_bus *bus, int64_t priority, BusChangeQueue **ret) {
        _cleanup_(bus_change_queue_freep) BusChangeQueue *q = NULL;
        int r;

        assert_return(event && bus && ret, -EINVAL);

        q = new0(BusChangeQueue, 1);
        if (!q)
                return -ENOMEM;
        q->bus = sd_bus_ref(bus);
        r = sd_event_add_defer(event, &q->defer, on_flush, q);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(q->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(q->defer, priority);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(q->defer, "bus-properties-changed");
        *ret = TAKE_PTR(q);
        return 0;
}

static void change_done(BusChange *c) {
        c->path = mfree(c->path);
}

BusChangeQueue *bus_change_queue_free(BusChangeQueue *q) {
        if (!q)
                return NULL;
        for (size_t i = 0; i < q->n; i++)
                change_done(&q->changes[i]);
        free(q->changes);
        sd_event_source_disable_unref(q->defer);
        sd_bus_unref(q->bus);
        return mfree(q);
}

int bus_change_queue_mark(BusChangeQueue *q, const char *path, const char *interface, const char *const *names,
                          uint64_t bits) {
        BusChange *c = NULL;
        int r;

        assert_return(q && path && interface && names, -EINVAL);
        if (bits == 0)
                return 0;

        for (size_t i = 0; i < q->n; i++)
                if (streq(q->changes[i].interface, interface) && streq(q->changes[i].path, path)) {
                        c = &q->changes[i];
                        break;
                }
        if (!c) {
                if (q->n >= q->allocated) {
                        size_t na = MAX(q->allocated * 2, (size_t) 8);
                        BusChange *nc = realloc(q->changes, na * sizeof(BusChange));
                        if (!nc)
                                return -ENOMEM;
                        q->changes = nc;
                        q->allocated = na;
                }
                c = &q->changes[q->n];
                *c = (BusChange) { .path = strdup(path), .interface = interface, .names = names };
                if (!c->path)
                        return -ENOMEM;
                q->n++;
        }
        c->bits |= bits;

        r = sd_event_source_set_enabled(q->defer, SD_EVENT_ONESHOT);
        return r < 0 ? r : 0;
}

static bool path_startswith_object(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void bus_change_queue_forget(BusChangeQueue *q, const char *path) {
        size_t j = 0;

        if (!q || !path)
                return;
        for (size_t i = 0; i < q->n; i++) {
                if (path_startswith_object(q->changes[i].path, path))
                        change_done(&q->changes[i]);
                else
                        q->changes[j++] = q->changes[i];
        }
        q->n = j;
}

static int emit_one(sd_bus *bus, const BusChange *c) {
        const char *list[65];
        size_t k = 0;

        for (unsigned b = 0; b < 64 && c->names[b]; b++)
                if (c->bits & (UINT64_C(1) << b))
                        list[k++] = c->names[b];
        list[k] = NULL;
        if (k == 0)
                return 0;
        return sd_bus_emit_properties_changed_strv(bus, c->path, c->interface, (char **) list);
}

int bus_change_queue_flush(BusChangeQueue *q) {
        int r = 0;

        assert_return(q, -EINVAL);

        for (size_t i = 0; i < q->n; i++) {
                int k = emit_one(q->bus, &q->changes[i]);
                /* An object that went away in the meantime is not an error. */
                if (k < 0 && k != -ENOENT && r == 0)
                        r = k;
                change_done(&q->changes[i]);
        }
        q->n = 0;
        (void) sd_event_source_set_enabled(q->defer, SD_EVENT_OFF);
        return r;
}

size_t bus_change_queue_pending(const BusChangeQueue *q) {
        return q ? q->n : 0;
}

int bus_property_bit(const char *const *names, const char *name) {
        for (int i = 0; i < 64 && names[i]; i++)
                if (streq(names[i], name))
                        return i;
        return -ENOENT;
}
