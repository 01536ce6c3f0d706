/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bus helpers shared by both daemons. This header only forward-declares the libsystemd types so
 * that non-bus code (managers, objects) can hold a BusChangeQueue without including sd-bus.h. */

#include <stdint.h>

typedef struct sd_bus sd_bus;
typedef struct sd_event sd_event;

/* Open the system bus (honours DBUS_SYSTEM_BUS_ADDRESS, which tests point at a private
 * dbus-daemon), name the connection and attach it to the event loop at the given priority. */
int bus_open_system_attached(sd_event *event, const char *description, int64_t priority, sd_bus **ret);

/* sd_bus_flush_close_unref() for code that does not include sd-bus.h. Returns NULL. */
sd_bus *bus_flush_close_unref(sd_bus *bus);

/* Ask for a well-known name asynchronously (no queueing, no replacement). done() runs once: with 0
 * when the name is owned, or with a negative errno (-EEXIST: someone else owns it, -EACCES: the
 * bus policy forbids it, other: the call failed); the message is human readable or NULL. */
typedef void (*bus_name_done_t)(void *userdata, int error, const char *message);
int bus_request_name_async_done(sd_bus *bus, const char *name, bus_name_done_t done, void *userdata);

/* Batched org.freedesktop.DBus.Properties.PropertiesChanged: callers mark (path, interface,
 * property bits) dirty as often as they like; one ONESHOT defer source emits one signal per dirty
 * object and interface per event-loop iteration. `names` maps bit i to a property name (at most 64
 * properties per interface, NULL-terminated array). */
typedef struct BusChangeQueue BusChangeQueue;

int bus_change_queue_new(sd_event *event, sd_bus *bus, int64_t priority, BusChangeQueue **ret);
BusChangeQueue *bus_change_queue_free(BusChangeQueue *q);
int bus_change_queue_mark(BusChangeQueue *q, const char *path, const char *interface, const char *const *names,
                          uint64_t bits);
/* Drop pending changes for path and everything below it (call when the object goes away). */
void bus_change_queue_forget(BusChangeQueue *q, const char *path);
/* Emit everything pending now (also done by the defer source). */
int bus_change_queue_flush(BusChangeQueue *q);
size_t bus_change_queue_pending(const BusChangeQueue *q);

static inline void bus_change_queue_freep(BusChangeQueue **q) {
        if (*q)
                bus_change_queue_free(*q);
}

/* Property name → bit, for callers that mark by name. Returns -ENOENT if not in names. */
int bus_property_bit(const char *const *names, const char *name);
