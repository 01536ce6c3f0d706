/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <unistd.h>

#include "alloc-util.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl.h"
#include "flux-bus-names.h"
#include "log.h"
#include "time-util.h"

/* How long "connect" waits for the daemon to reach "connected" before it reports the state. */
#define CONNECT_WAIT_USEC (30 * USEC_PER_SEC)

static int client_open(sd_bus **ret_bus, char **ret_name, char **ret_profile) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_bus_open(&bus);
        if (r < 0)
                return r;
        r = ctl_client_resolve(bus, ret_name, ret_profile);
        if (r < 0)
                return r;
        *ret_bus = TAKE_PTR(bus);
        return 0;
}

static int client_call(const char *method, const char *what, const char *types, ...) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *name = NULL, *profile = NULL;
        va_list ap;
        int r;

        r = client_open(&bus, &name, &profile);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, name, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, method);
        if (r < 0)
                return log_oom();
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s() call: %m", method);
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, FLUX_ERROR_NOT_CONNECTED))
                        return log_error_errno(r, "%s: profile '%s' is not connected.", what, profile);
                return ctl_log_call_error(r, &error, what);
        }
        return 0;
}

/* Reads the client's objects; ret_profile is optional. */
static int client_objects(sd_bus *bus, const char *name, json_t **ret) {
        return ctl_get_managed_objects(bus, name, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, ret);
}

/* The JSON view of a client: {"Profile": …, "Manager": {…}, "Session": {…}|null, "Connections": […]}. */
static json_t *client_status_json(json_t *objects, const char *profile) {
        json_t *m = objects_get(objects, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE);
        const char *sp = props_string(m, "Session");
        json_t *s = sp && !streq(sp, "/") ? objects_get(objects, sp, FLUX_CLIENT_SESSION_IFACE) : NULL;
        json_t *paths = client_paths_collect(objects);

        if (!paths)
                return NULL;
        return json_pack("{s:s, s:O, s:O?, s:o}", "Profile", profile, "Manager", m ?: json_null(), "Session", s,
                         "Connections", paths);
}

int ctl_client_status(sd_bus *bus, const char *profile, json_t *json_out, bool first) {
        _cleanup_(freep) char *name = NULL;
        json_t *objects = NULL;
        int r;

        if (asprintf(&name, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, profile) < 0)
                return log_oom();
        r = client_objects(bus, name, &objects);
        if (r < 0)
                return r;
        if (json_out) {
                json_t *c = client_status_json(objects, profile);
                r = c && json_array_append_new(json_out, c) == 0 ? 0 : log_oom();
        } else {
                if (!first)
                        putchar('\n');
                r = format_client_status(objects, profile, stdout, ctl_use_color(), now(CLOCK_REALTIME));
                if (r < 0)
                        log_error_errno(r, "Failed to show the status of profile '%s': %m", profile);
        }
        json_decref(objects);
        return r;
}

int verb_paths(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *name = NULL, *profile = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_t *objects = NULL, *paths;
        int r;

        r = client_open(&bus, &name, &profile);
        if (r < 0)
                return r;
        r = client_objects(bus, name, &objects);
        if (r < 0)
                return r;
        paths = client_paths_collect(objects);
        json_decref(objects);
        if (!paths)
                return log_oom();

        if (arg_json != JSON_OFF) {
                r = ctl_json_print(paths);
                json_decref(paths);
                return r;
        }

        r = table_from_paths(paths, &t);
        json_decref(paths);
        if (r < 0)
                return log_error_errno(r, "Failed to build the paths table: %m");
        if (table_get_rows(t) > 0 || !arg_legend)
                (void) table_print(t, stdout, arg_legend, ctl_use_color());
        if (arg_legend) {
                if (table_get_rows(t) > 0)
                        putchar('\n');
                printf("%zu path%s listed.\n", table_get_rows(t), table_get_rows(t) == 1 ? "" : "s");
        }
        return fflush(stdout) == 0 ? 0 : -errno;
}

static int append_options(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_ifaces) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "interfaces");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, arg_ifaces);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0 && arg_mode)
                r = sd_bus_message_append(m, "{sv}", "mode", "s", arg_mode);
        if (r >= 0 && arg_server)
                r = sd_bus_message_append(m, "{sv}", "server", "s", arg_server);
        if (r >= 0 && arg_scheduler)
                r = sd_bus_message_append(m, "{sv}", "scheduler", "s", arg_scheduler);
        if (r >= 0 && arg_save)
                r = sd_bus_message_append(m, "{sv}", "save", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int wait_connected(sd_bus *bus, const char *name, const char *profile) {
        usec_t deadline = now(CLOCK_MONOTONIC) + CONNECT_WAIT_USEC;

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(freep) char *state = NULL, *last = NULL;
                int r;

                r = sd_bus_get_property_string(bus, name, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, "State",
                                               &error, &state);
                if (r < 0)
                        return ctl_log_call_error(r, &error, "Failed to read the connection state");
                if (streq(state, "connected"))
                        return 0;
                if (streq(state, "failed") || streq(state, "idle")) {
                        (void) sd_bus_get_property_string(bus, name, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                                          "LastError", NULL, &last);
                        return log_error_errno(ECONNREFUSED, "Profile '%s' failed to connect: %s", profile,
                                               isempty(last) ? "no reason given" : last);
                }
                if (now(CLOCK_MONOTONIC) >= deadline)
                        return log_error_errno(ETIMEDOUT,
                                               "Profile '%s' is not connected after %llus (state: %s); the daemon "
                                               "keeps trying, see 'fluxifyctl status'.",
                                               profile, (unsigned long long) (CONNECT_WAIT_USEC / USEC_PER_SEC),
                                               state);
                (void) usleep(100 * 1000);
        }
}

int verb_connect(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *name = NULL, *profile = NULL;
        int r;

        r = client_open(&bus, &name, &profile);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, name, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, "Connect");
        if (r < 0)
                return log_oom();
        r = append_options(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the Connect() call: %m");
        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, FLUX_ERROR_ALREADY_CONNECTED))
                        return log_error_errno(r, "Profile '%s' is already connected; run 'fluxifyctl disconnect' "
                                               "first to change its settings.", profile);
                return ctl_log_call_error(r, &error, "Failed to connect");
        }
        if (arg_no_block)
                return 0;
        return wait_connected(bus, name, profile);
}

int verb_disconnect(int argc, char **argv) {
        return client_call("Disconnect", "Failed to disconnect", "");
}

int verb_add_iface(int argc, char **argv) {
        return client_call("AddInterface", "Failed to add the interface", "s", argv[1]);
}

int verb_remove_iface(int argc, char **argv) {
        return client_call("RemoveInterface", "Failed to remove the interface", "s", argv[1]);
}
