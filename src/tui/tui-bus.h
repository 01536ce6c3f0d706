/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "bus-util.h"
#include "macro.h"

/* fluxify-tui's D-Bus side: keeps a JSON copy of one daemon's objects ({ path: { iface: { prop:
 * value } } }) up to date and runs the methods the keys ask for. Everything is asynchronous on the
 * event loop the bus is attached to: the screen never waits for a daemon.
 *
 * - A poll (tui_bus_refresh(), called by the 1 s timer) re-reads GetManagedObjects() plus the root
 *   Manager's properties: byte counters and rates are polled, not signalled (DESIGN.md §2).
 * - PropertiesChanged, InterfacesAdded and InterfacesRemoved are applied to the copy as they come,
 *   so states and lists change on screen at once; a NameOwnerChanged of the daemon's name, and the
 *   PKI's CertificateIssued/CertificateRevoked, trigger an immediate re-read. */

typedef enum TuiTarget {
        TUI_TARGET_CLIENT,
        TUI_TARGET_SERVER,
} TuiTarget;

typedef struct TuiBus TuiBus;

/* The copy changed (or the daemon went away): redraw. */
typedef void (*tui_bus_changed_t)(void *userdata);
/* A method call finished: r < 0 with a human message on failure; on success result is the reply's
 * first string argument if it has one (IssueCertificate's bundle: erase it after use), else NULL. */
typedef void (*tui_bus_done_t)(void *userdata, int r, const char *message, const char *result);
/* Running client profiles, sorted (r < 0 and profiles NULL on failure). */
typedef void (*tui_bus_profiles_t)(void *userdata, int r, char **profiles);

/* profile: the client instance (TUI_TARGET_CLIENT only). */
int tui_bus_new(sd_bus *bus, TuiTarget target, const char *profile, tui_bus_changed_t changed, void *userdata,
                TuiBus **ret);
TuiBus *tui_bus_free(TuiBus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(TuiBus *, tui_bus_free);

/* Starts a re-read unless one is still in flight. */
int tui_bus_refresh(TuiBus *b);
/* Also re-reads what is normally read only on a signal (the certificates): after our own calls. */
int tui_bus_refresh_all(TuiBus *b);

/* Borrowed; NULL when the daemon could not be read (see tui_bus_get_error()). */
json_t *tui_bus_get_objects(TuiBus *b);
/* ListCertificates() rows (server), NULL if unknown. */
json_t *tui_bus_get_certificates(TuiBus *b);
/* Why the last read failed, NULL when it worked. */
const char *tui_bus_get_error(TuiBus *b);
const char *tui_bus_get_destination(TuiBus *b);

/* Client methods. ifaces NULL or empty: the profile's own interfaces. */
int tui_bus_connect(TuiBus *b, char *const *ifaces, tui_bus_done_t done, void *userdata);
int tui_bus_disconnect(TuiBus *b, tui_bus_done_t done, void *userdata);
int tui_bus_add_interface(TuiBus *b, const char *ifname, tui_bus_done_t done, void *userdata);
int tui_bus_remove_interface(TuiBus *b, const char *ifname, tui_bus_done_t done, void *userdata);

/* Server methods. */
int tui_bus_terminate_session(TuiBus *b, const char *object, const char *reason, tui_bus_done_t done,
                              void *userdata);
int tui_bus_issue_certificate(TuiBus *b, const char *name, unsigned days, tui_bus_done_t done, void *userdata);
int tui_bus_revoke_certificate(TuiBus *b, const char *name, tui_bus_done_t done, void *userdata);

/* Lists the running client instances (ListNames), asynchronously. */
int tui_bus_list_profiles(sd_bus *bus, tui_bus_profiles_t done, void *userdata);

/* The message shown for a failed call: the daemon's own message, with a hint for AccessDenied and
 * for a daemon that is gone. what: "Connect failed". Exposed for the tests. */
char *tui_bus_format_error(char *buf, size_t size, const char *what, const char *error_name,
                           const char *error_message, int r);
