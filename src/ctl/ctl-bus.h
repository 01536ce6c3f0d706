/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <systemd/sd-bus.h>

/* Bus helpers shared by fluxifyctl's verbs. Every function that fails has already told the user
 * why on stderr, in words that say what to do, and returns a negative errno. */

int ctl_bus_open(sd_bus **ret);

/* The client instance to talk to: --profile if given (validated, must be running), else the only
 * instance on the bus. ret_name gets the bus name, ret_profile (optional) the profile. */
int ctl_client_resolve(sd_bus *bus, char **ret_name, char **ret_profile);
/* Every running client profile, sorted, NULL-terminated. */
int ctl_client_list(sd_bus *bus, char ***ret_profiles);

/* 1 if the server owns its name, 0 if not (nothing printed). */
int ctl_server_is_running(sd_bus *bus);
/* Like ctl_server_is_running() but reports "not running" as an error. */
int ctl_server_require(sd_bus *bus);

/* Reads the next value of m (of the given D-Bus type) as JSON: numbers → integers (real for 'd'),
 * strings/object paths/signatures → strings, arrays → arrays, dictionaries → objects (keys
 * converted to strings), structs → arrays, variants → their content. */
int bus_message_read_json(sd_bus_message *m, char type, const char *contents, json_t **ret);

/* GetManagedObjects() of destination's ObjectManager at path, plus the properties of root_iface on
 * path itself, as { "<object path>": { "<interface>": { "<property>": value } } }. */
int ctl_get_managed_objects(sd_bus *bus, const char *destination, const char *path, const char *root_iface,
                            json_t **ret);

/* Reports a failed method call (what = "Failed to connect") with a hint matching the error, and
 * returns the negative errno. */
int ctl_log_call_error(int r, const sd_bus_error *error, const char *what);

/* Shows one client instance's status: appended to json_out as an object, or printed (first = no
 * blank line before it). Implemented in ctl-client-bus.c. */
int ctl_client_status(sd_bus *bus, const char *profile, json_t *json_out, bool first);
