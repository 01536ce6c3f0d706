/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control-message decoders: v1 request/response (Go-lenient), v2 request and messages (strict).
 * Whatever decodes must re-encode, and the re-encoding must decode to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "control-msg.h"

static void roundtrip_msg(const ControlMsg *m) {
        _cleanup_(freep) char *out = NULL;
        ControlMsg back = {};
        size_t n;

        if (control_msg_encode(m, &out, &n) < 0)
                return; /* e.g. a push entry list we refuse to emit, or over size */
        if (control_msg_decode(out, n, &back) < 0)
                abort();
        if (back.type != m->type)
                abort();
        if (m->type == CONTROL_MSG_RESPONSE &&
            (back.response.session_id != m->response.session_id ||
             memcmp(back.response.resume_token, m->response.resume_token, CONTROL_TOKEN_SIZE) != 0))
                abort();
        control_msg_done(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ControlRequest req = {};
        ControlResponse resp = {};
        ControlMsg m = {};

        if (control_request_decode((const char *) data, size, &req) >= 0) {
                _cleanup_(freep) char *out = NULL;
                ControlRequest back = {};
                size_t n;

                if (!req.client_name)
                        abort();
                /* v1 names may hold anything JSON can; v2 ones are validated. */
                if (control_request_encode(&req, &out, &n) >= 0) {
                        if (control_request_decode(out, n, &back) < 0)
                                abort();
                        if (back.protocol != req.protocol || strcmp(back.client_name, req.client_name) != 0)
                                abort();
                        control_request_done(&back);
                }
                control_request_done(&req);
        }
        if (control_response_decode_v1((const char *) data, size, &resp) >= 0) {
                _cleanup_(freep) char *out = NULL;
                size_t n;

                if (control_response_encode_v1(&resp, &out, &n) < 0)
                        abort();
                if (control_response_decode_v1(out, n, &resp) < 0)
                        abort();
        }
        if (control_msg_decode((const char *) data, size, &m) >= 0) {
                roundtrip_msg(&m);
                control_msg_done(&m);
        }
        return 0;
}
