/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ctl-table.h"

/* fluxifyctl's views, built from the JSON form of GetManagedObjects() ({ path: { iface: { prop:
 * value } } }, see bus_message_read_json()), so the human and the --json output come from the same
 * data. Pure: no D-Bus, no clock except where a "now" is passed in. */

/* Borrowed property object of path/iface, NULL if absent. */
json_t *objects_get(json_t *objects, const char *path, const char *iface);
/* The property objects of every object carrying iface, sorted by path; each element is
 * { "Path": "...", <properties> } (a new array, caller unrefs). */
json_t *objects_collect(json_t *objects, const char *iface);

const char *props_string(json_t *props, const char *name);
uint64_t props_uint(json_t *props, const char *name);
double props_double(json_t *props, const char *name);

/* Colour for a state string ("up", "connected", "failed"…), or NULL. */
const char *state_color(const char *state);

/* "0.00%" from parts per million. */
char *format_loss(char *buf, size_t size, uint64_t ppm);
/* "3.2min ago"/"just now" style age of a CLOCK_REALTIME µs timestamp; "-" if 0. */
char *format_age(char *buf, size_t size, uint64_t then_usec, uint64_t now_usec);

int format_client_status(json_t *objects, const char *profile, FILE *f, bool color, uint64_t now_usec);
int format_server_status(json_t *objects, FILE *f, bool color, uint64_t now_usec);

/* The rows behind "fluxifyctl paths" (client Connection objects, in Manager.Connections order). */
json_t *client_paths_collect(json_t *objects);
int table_from_paths(json_t *paths, Table **ret);
/* The server's Session objects sorted by Id (objects_collect() sorts by path: "10" < "9"). */
json_t *server_sessions_collect(json_t *objects);
/* Server sessions, sorted by Id. */
int table_from_sessions(json_t *sessions, uint64_t now_usec, Table **ret);
/* ListCertificates() rows as objects {Name, Serial, NotBeforeUSec, NotAfterUSec, Revoked}. */
int table_from_certificates(json_t *certs, uint64_t now_usec, Table **ret);
