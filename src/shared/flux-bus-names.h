/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every D-Bus name Fluxify uses, in one place (DESIGN.md §2). Object path components below the
 * prefixes are built with sd_bus_path_encode() and parsed with sd_bus_path_decode(). */

#define FLUX_SERVER_BUS_NAME "org.fluxify.server1"
#define FLUX_SERVER_PATH "/org/fluxify/server1"
#define FLUX_SERVER_SESSION_PREFIX "/org/fluxify/server1/session"
#define FLUX_SERVER_PKI_PATH "/org/fluxify/server1/pki"
#define FLUX_SERVER_MANAGER_IFACE "org.fluxify.server1.Manager"
#define FLUX_SERVER_SESSION_IFACE "org.fluxify.server1.Session"
#define FLUX_SERVER_CONNECTION_IFACE "org.fluxify.server1.Connection"
#define FLUX_SERVER_PKI_IFACE "org.fluxify.server1.PKI"

/* A client instance owns FLUX_CLIENT_BUS_NAME_PREFIX "." <profile>. */
#define FLUX_CLIENT_BUS_NAME_PREFIX "org.fluxify.client1"
#define FLUX_CLIENT_PATH "/org/fluxify/client1"
#define FLUX_CLIENT_SESSION_PATH "/org/fluxify/client1/session"
#define FLUX_CLIENT_CONNECTION_PREFIX "/org/fluxify/client1/connection"
#define FLUX_CLIENT_MANAGER_IFACE "org.fluxify.client1.Manager"
#define FLUX_CLIENT_SESSION_IFACE "org.fluxify.client1.Session"
#define FLUX_CLIENT_CONNECTION_IFACE "org.fluxify.client1.Connection"

#define FLUX_OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

/* Profile names: [A-Za-z][A-Za-z0-9_]{0,31} (they become part of a bus name). */
#define FLUX_PROFILE_NAME_MAX 32

#define FLUX_ERROR_PREFIX "org.fluxify.Error."
#define FLUX_ERROR_NO_SUCH_SESSION FLUX_ERROR_PREFIX "NoSuchSession"
#define FLUX_ERROR_NO_SUCH_CERTIFICATE FLUX_ERROR_PREFIX "NoSuchCertificate"
#define FLUX_ERROR_CERTIFICATE_EXISTS FLUX_ERROR_PREFIX "CertificateExists"
#define FLUX_ERROR_ALREADY_CONNECTED FLUX_ERROR_PREFIX "AlreadyConnected"
#define FLUX_ERROR_NOT_CONNECTED FLUX_ERROR_PREFIX "NotConnected"
#define FLUX_ERROR_NO_USABLE_UPLINK FLUX_ERROR_PREFIX "NoUsableUplink"
#define FLUX_ERROR_NO_SUCH_INTERFACE FLUX_ERROR_PREFIX "NoSuchInterface"
#define FLUX_ERROR_INVALID_CONFIG FLUX_ERROR_PREFIX "InvalidConfig"
#define FLUX_ERROR_PKI_NOT_INITIALIZED FLUX_ERROR_PREFIX "PKINotInitialized"
