/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Whether a control connection may resume the session, and what an established one means for the
 * data plane. Pure: the session code passes in what it holds.
 *
 * The data-plane keys come from the TLS exporter of the connection that *created* the session; a
 * resumed connection keeps them on both ends (docs/protocol.md, "Control protocol"). So a client
 * may only resume a session whose tunnel (and keys) it still runs; without them it must ask for a
 * fresh session, and a "resumed" answer it cannot use is refused rather than keyed from the new
 * connection's exporter (the server would still use the old keys: a silently dead data plane). */

#include <stdbool.h>
#include <stdint.h>

typedef struct SessionKeys {
        bool has_tunnel;        /* a tunnel engine with the session's data keys is running */
        uint32_t session_id;    /* the session those keys belong to (meaningful with has_tunnel) */
} SessionKeys;

typedef enum SessionSetup {
        SESSION_SETUP_NEW,      /* a new session: data plane from this connection's exporter secret */
        SESSION_SETUP_RESUMED,  /* the running session: keep tunnel and keys, only the control moved */
        SESSION_SETUP_REFUSE,   /* resumed, but not a session we hold keys for: drop, start afresh */
        _SESSION_SETUP_MAX,
        _SESSION_SETUP_INVALID = -1,
} SessionSetup;

/* Ask for a resume of resume_id? Only with a token and the keys of that very session. */
bool session_may_resume(const SessionKeys *k, bool has_token, uint32_t resume_id);

/* The server answered (resumed or not) with session_id. */
SessionSetup session_setup_classify(const SessionKeys *k, bool resumed, uint32_t session_id);

const char *session_setup_to_string(SessionSetup s);
