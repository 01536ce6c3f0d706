/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Control-plane JSON messages (jansson). Pure: no sockets, no clock.
 *
 * Version 1 (Go reference, research/reference-go.md §1.10.3): one request {"client_name"} and one
 * response {"session_id","session_key","udp_port","client_ip","client_ip6"(omitempty)}, compact,
 * in that key order; decoding is lenient like Go's encoding/json (keys case-insensitive, unknown
 * keys ignored, null leaves a field empty).
 *
 * Version 2 (docs/protocol.md "Control protocol"): one JSON object per line, at most
 * CONTROL_MSG_MAX bytes. The first client message is the request ({"client_name", "protocol":2,
 * optional "resume", optional "scheduler"}); every later message carries "type". Decoding is strict: exact key names,
 * exact JSON types, ranges checked, duplicate keys rejected; unknown keys are ignored (so later
 * versions can add optional fields) — documented per message.
 *
 * Errors: -EBADMSG malformed JSON / wrong type / out of range, -EMSGSIZE too large,
 * -EPROTONOSUPPORT unknown protocol version, -EOPNOTSUPP a v2 request asking for a scheduler
 * this version does not know, -ENOMEM. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"

#define CONTROL_MSG_MAX (16U * 1024U)
#define CONTROL_TOKEN_SIZE 32U
#define CONTROL_KEY_SIZE 32U
#define CONTROL_PROTOCOL_V1 1U
#define CONTROL_PROTOCOL_V2 2U
#define CONTROL_PUSH_MAX 64U /* entries per list in a push */

typedef struct ControlRequest {
        unsigned protocol;                          /* 1 when "protocol" is absent */
        char *client_name;                          /* never NULL after decode ("" allowed in v1) */
        bool resume;
        uint32_t resume_session_id;                 /* non-zero when resume */
        uint8_t resume_token[CONTROL_TOKEN_SIZE];
        /* v2, optional: the data-plane scheduler the client wants the server to use toward it, one
         * of control_scheduler_valid(); NULL = the server's default. v1 never carries it. */
        char *scheduler;
} ControlRequest;

/* The scheduler names a request may carry: "weighted", "flow", "lowest-rtt", "redundant" (the data
 * path's FluxSchedulerKind names; proto may not depend on datapath, test-control checks they agree). */
bool control_scheduler_valid(const char *name);

void control_request_done(ControlRequest *r);

typedef struct ControlResponse {
        unsigned protocol;
        uint32_t session_id;                        /* non-zero (v2) */
        uint16_t udp_port;
        bool has_address;                           /* client_ip */
        union in_addr_union address;                /* IPv4 */
        uint8_t prefixlen;                          /* v2 "client_prefix"; v1: 0 (not sent) */
        bool has_address6;                          /* client_ip6 */
        union in_addr_union address6;
        uint8_t prefixlen6;
        /* v1 only: the data key sent in clear (base64) */
        bool has_session_key;
        uint8_t session_key[CONTROL_KEY_SIZE];
        /* v2 only */
        uint16_t mtu;                               /* 0 = not given */
        uint32_t keepalive_sec;                     /* server's keepalive interval, 1..3600 */
        bool resumed;
        uint8_t resume_token[CONTROL_TOKEN_SIZE];
} ControlResponse;

typedef enum ControlMsgType {
        CONTROL_MSG_RESPONSE,
        CONTROL_MSG_ERROR,
        CONTROL_MSG_KEEPALIVE,
        CONTROL_MSG_REKEY,
        CONTROL_MSG_BYE,
        CONTROL_MSG_PUSH,
        _CONTROL_MSG_TYPE_MAX,
        _CONTROL_MSG_TYPE_INVALID = -EINVAL,
} ControlMsgType;

DECLARE_STRING_TABLE(control_msg_type, ControlMsgType); /* "response", "error", … */

typedef enum ControlErrorCode {
        CONTROL_ERROR_BAD_REQUEST,       /* "bad-request"          -EBADMSG */
        CONTROL_ERROR_FORBIDDEN,         /* "forbidden"            -EPERM (name ≠ certificate CN, revoked) */
        CONTROL_ERROR_UNSUPPORTED,       /* "unsupported-protocol" -EPROTONOSUPPORT (incl. v1 refused) */
        CONTROL_ERROR_POOL_EXHAUSTED,    /* "pool-exhausted"       -ENOSPC */
        CONTROL_ERROR_UNKNOWN_SESSION,   /* "unknown-session"      -ESTALE (resume of a session that is gone / bad token) */
        CONTROL_ERROR_BUSY,              /* "busy"                 -EBUSY */
        CONTROL_ERROR_INTERNAL,          /* "internal"             anything else */
        _CONTROL_ERROR_CODE_MAX,
        _CONTROL_ERROR_CODE_INVALID = -EINVAL,
} ControlErrorCode;

DECLARE_STRING_TABLE(control_error_code, ControlErrorCode);
ControlErrorCode control_error_code_from_errno(int error);
int control_error_code_to_errno(ControlErrorCode c); /* negative errno */

typedef struct ControlMsg {
        ControlMsgType type;
        union {
                ControlResponse response;
                struct {
                        ControlErrorCode code;
                        char *message;              /* never NULL after decode */
                } error;
                struct {
                        uint64_t seq;               /* optional, echoed nowhere; 0 if absent */
                } keepalive;
                struct {
                        uint32_t epoch;             /* data-plane key epoch the sender moved to */
                } rekey;
                struct {
                        char *reason;               /* never NULL after decode */
                } bye;
                struct {
                        char **routes;              /* NULL-terminated CIDR strings (validated), may be NULL */
                        char **dns;                 /* NULL-terminated address strings (validated), may be NULL */
                } push;
        };
} ControlMsg;

void control_msg_done(ControlMsg *m);

/* Request. protocol 1 encodes exactly {"client_name":"…"} (Go byte order; a scheduler is not
 * sent); protocol 2 adds "protocol":2, "resume":{"session_id":N,"token":"<base64>"} and
 * "scheduler" (-EINVAL if not control_scheduler_valid()). No trailing newline. */
int control_request_encode(const ControlRequest *r, char **ret, size_t *ret_size);
/* Decides the version: no "protocol" key → v1 lenient decoding; "protocol":2 → strict v2. */
int control_request_decode(const char *data, size_t size, ControlRequest *ret);

/* v1 response: byte-exact Go order, client_ip6 omitted when absent. */
int control_response_encode_v1(const ControlResponse *r, char **ret, size_t *ret_size);
/* v1 response decoding (lenient, Go rules: session_id must be an integer 0..2^32-1). */
int control_response_decode_v1(const char *data, size_t size, ControlResponse *ret);

/* v2 messages (response, error, keepalive, rekey, bye, push). No trailing newline. */
int control_msg_encode(const ControlMsg *m, char **ret, size_t *ret_size);
int control_msg_decode(const char *data, size_t size, ControlMsg *ret);

/* Helpers for building messages. */
int control_msg_new_error(ControlErrorCode code, const char *message, char **ret, size_t *ret_size);
