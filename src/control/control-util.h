/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the server and client ends of an established control connection share: sending one
 * message line, and the idle and keepalive timers. Internal to libflux-control. */

#include <systemd/sd-event.h>

#include "control-msg.h"
#include "time-util.h"
#include "tls.h"

/* Encodes m and queues it with its '\n'. Anything sent postpones the next keepalive by `interval`
 * (keepalive may be NULL before the session timers run). */
int control_send_msg(TlsStream *t, sd_event_source *keepalive, usec_t interval, const ControlMsg *m);

/* Sends a keepalive and re-arms its timer `interval` from now. */
int control_send_keepalive(TlsStream *t, sd_event_source *keepalive, usec_t interval);

/* Starts the idle timer (one shot, `idle` from now, re-armed by the caller on every message) and
 * the keepalive timer (every `interval`). On failure the caller frees whatever was created. */
int control_session_timers_start(sd_event *e, usec_t idle, sd_event_time_handler_t on_idle, usec_t interval,
                                 sd_event_time_handler_t on_keepalive, void *userdata, sd_event_source **idle_source,
                                 sd_event_source **keepalive_source);
