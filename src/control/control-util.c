/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alloc-util.h"
#include "control-util.h"

int control_send_msg(TlsStream *t, sd_event_source *keepalive, usec_t interval, const ControlMsg *m) {
        _cleanup_(freep) char *json = NULL;
        size_t n;
        int r;

        r = control_msg_encode(m, &json, &n);
        if (r < 0)
                return r;
        r = tls_stream_send(t, json, n);
        if (r >= 0)
                r = tls_stream_send(t, "\n", 1);
        if (r >= 0 && keepalive)
                (void) sd_event_source_set_time_relative(keepalive, interval);
        return r;
}

int control_send_keepalive(TlsStream *t, sd_event_source *keepalive, usec_t interval) {
        ControlMsg m = { .type = CONTROL_MSG_KEEPALIVE };
        int r;

        r = control_send_msg(t, keepalive, interval, &m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_time_relative(keepalive, interval);
        (void) sd_event_source_set_enabled(keepalive, SD_EVENT_ON);
        return 0;
}

int control_session_timers_start(sd_event *e, usec_t idle, sd_event_time_handler_t on_idle, usec_t interval,
                                 sd_event_time_handler_t on_keepalive, void *userdata, sd_event_source **idle_source,
                                 sd_event_source **keepalive_source) {
        int r;

        r = sd_event_add_time_relative(e, idle_source, CLOCK_MONOTONIC, idle, 0, on_idle, userdata);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, keepalive_source, CLOCK_MONOTONIC, interval, 0, on_keepalive, userdata);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(*keepalive_source, SD_EVENT_ON);
}
