/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <jansson.h>

#include "alloc-util.h"
#include "control-msg.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define ERROR_MESSAGE_MAX 1024U
#define NAME_MAX_LEN 64U

static const char *const control_msg_type_table[_CONTROL_MSG_TYPE_MAX] = {
        [CONTROL_MSG_RESPONSE] = "response",
        [CONTROL_MSG_ERROR] = "error",
        [CONTROL_MSG_KEEPALIVE] = "keepalive",
        [CONTROL_MSG_REKEY] = "rekey",
        [CONTROL_MSG_BYE] = "bye",
        [CONTROL_MSG_PUSH] = "push",
};

DEFINE_STRING_TABLE(control_msg_type, ControlMsgType, _CONTROL_MSG_TYPE_MAX);

static const char *const control_error_code_table[_CONTROL_ERROR_CODE_MAX] = {
        [CONTROL_ERROR_BAD_REQUEST] = "bad-request",
        [CONTROL_ERROR_FORBIDDEN] = "forbidden",
        [CONTROL_ERROR_UNSUPPORTED] = "unsupported-protocol",
        [CONTROL_ERROR_POOL_EXHAUSTED] = "pool-exhausted",
        [CONTROL_ERROR_UNKNOWN_SESSION] = "unknown-session",
        [CONTROL_ERROR_BUSY] = "busy",
        [CONTROL_ERROR_INTERNAL] = "internal",
};

DEFINE_STRING_TABLE(control_error_code, ControlErrorCode, _CONTROL_ERROR_CODE_MAX);

ControlErrorCode control_error_code_from_errno(int error) {
        switch (abs(error)) {
        case EBADMSG:
        case EINVAL:
        case EMSGSIZE:
                return CONTROL_ERROR_BAD_REQUEST;
        case EPERM:
        case EACCES:
                return CONTROL_ERROR_FORBIDDEN;
        case EPROTONOSUPPORT:
        case EOPNOTSUPP:
                return CONTROL_ERROR_UNSUPPORTED;
        case ENOSPC:
        case EADDRNOTAVAIL:
                return CONTROL_ERROR_POOL_EXHAUSTED;
        case ESTALE:
        case ENOENT:
        case ENXIO:
                return CONTROL_ERROR_UNKNOWN_SESSION;
        case EBUSY:
        case EADDRINUSE:
        case EAGAIN:
                return CONTROL_ERROR_BUSY;
        default:
                return CONTROL_ERROR_INTERNAL;
        }
}

int control_error_code_to_errno(ControlErrorCode c) {
        static const int map[_CONTROL_ERROR_CODE_MAX] = {
                [CONTROL_ERROR_BAD_REQUEST] = -EBADMSG,
                [CONTROL_ERROR_FORBIDDEN] = -EPERM,
                [CONTROL_ERROR_UNSUPPORTED] = -EPROTONOSUPPORT,
                [CONTROL_ERROR_POOL_EXHAUSTED] = -ENOSPC,
                [CONTROL_ERROR_UNKNOWN_SESSION] = -ESTALE,
                [CONTROL_ERROR_BUSY] = -EBUSY,
                [CONTROL_ERROR_INTERNAL] = -EPROTO,
        };
        if ((int) c < 0 || c >= _CONTROL_ERROR_CODE_MAX)
                return -EPROTO;
        return map[c];
}

void control_request_done(ControlRequest *r) {
        if (!r)
                return;
        free(r->client_name);
        free(r->scheduler);
        explicit_bzero(r, sizeof(*r));
}

static void strv_free(char **l) {
        strv_freep(&l);
}

void control_msg_done(ControlMsg *m) {
        if (!m)
                return;
        switch (m->type) {
        case CONTROL_MSG_ERROR:
                free(m->error.message);
                break;
        case CONTROL_MSG_BYE:
                free(m->bye.reason);
                break;
        case CONTROL_MSG_PUSH:
                strv_free(m->push.routes);
                strv_free(m->push.dns);
                break;
        default:
                break;
        }
        explicit_bzero(m, sizeof(*m));
        m->type = _CONTROL_MSG_TYPE_INVALID;
}


/* ------------------------------------------------------------------ base64 (RFC 4648 §4, padded) */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(const uint8_t *in, size_t n, char *out) {
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                out[o++] = b64_alphabet[(v >> 18) & 63];
                out[o++] = b64_alphabet[(v >> 12) & 63];
                out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
                out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        }
        out[o] = 0;
}

static int b64_value(char c) {
        const char *p = c ? strchr(b64_alphabet, c) : NULL;
        return p ? (int) (p - b64_alphabet) : -1;
}

/* Decodes exactly `size` bytes from canonical padded base64; anything else is -EBADMSG. */
static int base64_decode_exact(const char *s, uint8_t *out, size_t size) {
        size_t len = strlen(s), o = 0;

        if (len != DIV_ROUND_UP(size, 3) * 4)
                return -EBADMSG;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                uint32_t w;

                for (size_t j = 0; j < 4; j++) {
                        if (s[i + j] == '=' && i + 4 == len && j >= 2) {
                                v[j] = 0;
                                continue;
                        }
                        v[j] = b64_value(s[i + j]);
                        if (v[j] < 0)
                                return -EBADMSG;
                }
                if (s[i + 2] == '=' && s[i + 3] != '=')
                        return -EBADMSG;
                w = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 | (uint32_t) v[3];
                for (size_t j = 0; j < 3 && o < size; j++)
                        out[o++] = (uint8_t) (w >> (16 - 8 * j));
                if (i + 4 == len) {
                        size_t pad = (s[i + 3] == '=') + (s[i + 2] == '=');
                        if (pad != DIV_ROUND_UP(size, 3) * 3 - size)
                                return -EBADMSG;
                }
        }
        return o == size ? 0 : -EBADMSG;
}

/* ------------------------------------------------------------------ common helpers */

static int dump(json_t *o, char **ret, size_t *ret_size) {
        char *s = json_dumps(o, DUMP_FLAGS);
        size_t n;

        if (!s)
                return -ENOMEM;
        n = strlen(s);
        if (n > CONTROL_MSG_MAX) {
                free(s);
                return -EMSGSIZE;
        }
        *ret = s;
        if (ret_size)
                *ret_size = n;
        return 0;
}

static int load(const char *data, size_t size, bool reject_duplicates, json_t **ret) {
        json_error_t err;
        json_t *j;

        if (!data)
                return -EINVAL;
        if (size > CONTROL_MSG_MAX)
                return -EMSGSIZE;
        j = json_loadb(data, size, reject_duplicates ? JSON_REJECT_DUPLICATES : 0, &err);
        if (!j)
                return -EBADMSG;
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

static int set_new(json_t *o, const char *key, json_t *v) {
        if (!v || json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static bool json_is_uint(json_t *v, uint64_t max) {
        return json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t) json_integer_value(v) <= max;
}

static int set_address(json_t *o, const char *key, int family, const union in_addr_union *a) {
        char buf[INET6_ADDRSTRLEN];

        if (!inet_ntop(family, a, buf, sizeof(buf)))
                return -EINVAL;
        return set_new(o, key, json_string(buf));
}

static int parse_address(json_t *v, int family, union in_addr_union *ret) {
        const char *s;

        if (!json_is_string(v))
                return -EBADMSG;
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
                return -EBADMSG;
        *ret = (union in_addr_union) {};
        return inet_pton(family, s, ret) == 1 ? 0 : -EBADMSG;
}

static bool name_is_plausible(const char *s, size_t len) {
        if (len == 0 || len > NAME_MAX_LEN || strlen(s) != len)
                return false;
        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 1; i < len; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

/* ------------------------------------------------------------------ request */

bool control_scheduler_valid(const char *name) {
        static const char *const names[] = { "weighted", "flow", "lowest-rtt", "redundant" };

        if (!name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(name, names[i]))
                        return true;
        return false;
}

int control_request_encode(const ControlRequest *r, char **ret, size_t *ret_size) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        int k;

        assert_return(r && ret, -EINVAL);
        o = json_object();
        if (!o)
                return -ENOMEM;
        if ((k = set_new(o, "client_name", json_string(strempty(r->client_name)))) < 0)
                return k;
        if (r->protocol == CONTROL_PROTOCOL_V1 || r->protocol == 0) {
                if (r->resume)
                        return -EINVAL;
                return dump(o, ret, ret_size);
        }
        if (r->protocol != CONTROL_PROTOCOL_V2)
                return -EPROTONOSUPPORT;
        if ((k = set_new(o, "protocol", json_integer(CONTROL_PROTOCOL_V2))) < 0)
                return k;
        if (r->scheduler) {
                if (!control_scheduler_valid(r->scheduler))
                        return -EINVAL;
                if ((k = set_new(o, "scheduler", json_string(r->scheduler))) < 0)
                        return k;
        }
        if (r->resume) {
                char token[DIV_ROUND_UP(CONTROL_TOKEN_SIZE, 3) * 4 + 1];
                json_t *res = json_object();

                if (r->resume_session_id == 0) {
                        json_decref(res);
                        return -EINVAL;
                }
                if ((k = set_new(o, "resume", res)) < 0)
                        return k;
                base64_encode(r->resume_token, CONTROL_TOKEN_SIZE, token);
                if ((k = set_new(res, "session_id", json_integer(r->resume_session_id))) < 0 ||
                    (k = set_new(res, "token", json_string(token))) < 0)
                        return k;
        }
        return dump(o, ret, ret_size);
}

/* Go's encoding/json rules: keys match case-insensitively, the last matching key wins, null
 * leaves the field alone, a value of another type is an error, unknown keys are ignored. */
static int request_decode_v1(json_t *o, ControlRequest *ret) {
        const char *key;
        json_t *v;

        json_object_foreach(o, key, v) {
                if (strcasecmp(key, "client_name") != 0)
                        continue;
                if (json_is_null(v))
                        continue;
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return -EBADMSG;
                if (free_and_strdup(&ret->client_name, json_string_value(v)) < 0)
                        return -ENOMEM;
        }
        if (!ret->client_name && !(ret->client_name = strdup("")))
                return -ENOMEM;
        ret->protocol = CONTROL_PROTOCOL_V1;
        return 0;
}

static int request_decode_v2(json_t *o, ControlRequest *ret) {
        json_t *v, *res;

        v = json_object_get(o, "type");
        if (v && (!json_is_string(v) || !streq(json_string_value(v), "request")))
                return -EBADMSG;
        v = json_object_get(o, "client_name");
        if (!json_is_string(v) || !name_is_plausible(json_string_value(v), json_string_length(v)))
                return -EBADMSG;
        ret->client_name = strdup(json_string_value(v));
        if (!ret->client_name)
                return -ENOMEM;
        res = json_object_get(o, "resume");
        if (res && !json_is_null(res)) {
                json_t *id, *tok;

                if (!json_is_object(res))
                        return -EBADMSG;
                id = json_object_get(res, "session_id");
                tok = json_object_get(res, "token");
                if (!json_is_uint(id, UINT32_MAX) || json_integer_value(id) == 0 || !json_is_string(tok))
                        return -EBADMSG;
                if (base64_decode_exact(json_string_value(tok), ret->resume_token, CONTROL_TOKEN_SIZE) < 0)
                        return -EBADMSG;
                ret->resume = true;
                ret->resume_session_id = (uint32_t) json_integer_value(id);
        }
        /* Optional; null counts as absent like "resume". A well-formed but unknown name gets its
         * own error so the server can say what was wrong. */
        v = json_object_get(o, "scheduler");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return -EBADMSG;
                if (!control_scheduler_valid(json_string_value(v)))
                        return -EOPNOTSUPP;
                ret->scheduler = strdup(json_string_value(v));
                if (!ret->scheduler)
                        return -ENOMEM;
        }
        ret->protocol = CONTROL_PROTOCOL_V2;
        return 0;
}

int control_request_decode(const char *data, size_t size, ControlRequest *ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        ControlRequest req = {};
        json_t *p;
        int r;

        assert_return(ret, -EINVAL);
        r = load(data, size, false, &o);
        if (r < 0)
                return r;

        p = json_object_get(o, "protocol");
        if (!p || json_is_null(p) || (json_is_integer(p) && json_integer_value(p) == CONTROL_PROTOCOL_V1))
                r = request_decode_v1(o, &req);
        else if (!json_is_integer(p))
                r = -EBADMSG;
        else if (json_integer_value(p) != CONTROL_PROTOCOL_V2)
                r = -EPROTONOSUPPORT;
        else {
                /* Version 2 is strict: parse again refusing duplicate keys. */
                json_decref(TAKE_PTR(o));
                r = load(data, size, true, &o);
                if (r >= 0)
                        r = request_decode_v2(o, &req);
        }
        if (r < 0) {
                control_request_done(&req);
                return r;
        }
        *ret = req;
        return 0;
}

/* ------------------------------------------------------------------ v1 response */

/* Built by hand rather than with jansson, which frees its copies without wiping them: the session
 * key must exist only in wiped buffers and the result. No value needs JSON escaping (digits,
 * base64, addresses). */
int control_response_encode_v1(const ControlResponse *r, char **ret, size_t *ret_size) {
        char key[DIV_ROUND_UP(CONTROL_KEY_SIZE, 3) * 4 + 1] = "", ip[INET_ADDRSTRLEN] = "",
             ip6[INET6_ADDRSTRLEN] = "", buf[256], *s;
        int n;

        assert_return(r && ret, -EINVAL);
        if ((r->has_address && !inet_ntop(AF_INET, &r->address, ip, sizeof(ip))) ||
            (r->has_address6 && !inet_ntop(AF_INET6, &r->address6, ip6, sizeof(ip6))))
                return -EINVAL;
        if (r->has_session_key)
                base64_encode(r->session_key, CONTROL_KEY_SIZE, key);
        /* Go's field order; client_ip6 is omitempty. */
        n = snprintf(buf, sizeof(buf),
                     "{\"session_id\":%" PRIu32 ",\"session_key\":\"%s\",\"udp_port\":%u,\"client_ip\":\"%s\"%s%s%s}",
                     r->session_id, key, (unsigned) r->udp_port, ip,
                     r->has_address6 ? ",\"client_ip6\":\"" : "", ip6, r->has_address6 ? "\"" : "");
        explicit_bzero(key, sizeof(key));
        s = n > 0 && (size_t) n < sizeof(buf) ? strdup(buf) : NULL;
        explicit_bzero(buf, sizeof(buf));
        if (!s)
                return -ENOMEM;
        *ret = s;
        if (ret_size)
                *ret_size = (size_t) n;
        return 0;
}

static int v1_string(json_t *v, const char **ret) {
        if (json_is_null(v))
                return 0;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return -EBADMSG;
        *ret = json_string_value(v);
        return 0;
}

int control_response_decode_v1(const char *data, size_t size, ControlResponse *ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        const char *key, *skey = NULL, *ip = NULL, *ip6 = NULL;
        ControlResponse resp = { .protocol = CONTROL_PROTOCOL_V1 };
        json_t *v;
        int r;

        assert_return(ret, -EINVAL);
        r = load(data, size, false, &o);
        if (r < 0)
                return r;

        json_object_foreach(o, key, v) {
                if (strcasecmp(key, "session_id") == 0) {
                        if (json_is_null(v))
                                continue;
                        /* Go: uint32; overflow, negative, fractions and strings are errors. */
                        if (!json_is_uint(v, UINT32_MAX))
                                return -EBADMSG;
                        resp.session_id = (uint32_t) json_integer_value(v);
                } else if (strcasecmp(key, "udp_port") == 0) {
                        if (json_is_null(v))
                                continue;
                        if (!json_is_uint(v, UINT16_MAX))
                                return -EBADMSG;
                        resp.udp_port = (uint16_t) json_integer_value(v);
                } else if (strcasecmp(key, "session_key") == 0)
                        r = v1_string(v, &skey);
                else if (strcasecmp(key, "client_ip") == 0)
                        r = v1_string(v, &ip);
                else if (strcasecmp(key, "client_ip6") == 0)
                        r = v1_string(v, &ip6);
                if (r < 0)
                        return r;
        }
        if (!isempty(skey)) {
                if (base64_decode_exact(skey, resp.session_key, CONTROL_KEY_SIZE) < 0)
                        return -EBADMSG;
                resp.has_session_key = true;
        }
        if (!isempty(ip)) {
                if (inet_pton(AF_INET, ip, &resp.address) != 1)
                        return -EBADMSG;
                resp.has_address = true;
                resp.prefixlen = 32;
        }
        if (!isempty(ip6)) {
                if (inet_pton(AF_INET6, ip6, &resp.address6) != 1)
                        return -EBADMSG;
                resp.has_address6 = true;
                resp.prefixlen6 = 64;
        }
        *ret = resp;
        explicit_bzero(&resp, sizeof(resp));
        return 0;
}

/* ------------------------------------------------------------------ v2 messages */

static int response_encode(json_t *o, const ControlResponse *r) {
        char token[DIV_ROUND_UP(CONTROL_TOKEN_SIZE, 3) * 4 + 1];
        int k;

        if (r->session_id == 0 || r->udp_port == 0 || (!r->has_address && !r->has_address6) ||
            r->keepalive_sec == 0 || r->keepalive_sec > 3600)
                return -EINVAL;
        if ((r->has_address && (r->prefixlen == 0 || r->prefixlen > 32)) ||
            (r->has_address6 && (r->prefixlen6 == 0 || r->prefixlen6 > 128)))
                return -EINVAL;
        base64_encode(r->resume_token, CONTROL_TOKEN_SIZE, token);
        if ((k = set_new(o, "protocol", json_integer(CONTROL_PROTOCOL_V2))) < 0 ||
            (k = set_new(o, "session_id", json_integer(r->session_id))) < 0 ||
            (k = set_new(o, "udp_port", json_integer(r->udp_port))) < 0)
                return k;
        if (r->has_address && ((k = set_address(o, "client_ip", AF_INET, &r->address)) < 0 ||
                               (k = set_new(o, "client_prefix", json_integer(r->prefixlen))) < 0))
                return k;
        if (r->has_address6 && ((k = set_address(o, "client_ip6", AF_INET6, &r->address6)) < 0 ||
                                (k = set_new(o, "client_prefix6", json_integer(r->prefixlen6))) < 0))
                return k;
        if (r->mtu > 0 && (k = set_new(o, "mtu", json_integer(r->mtu))) < 0)
                return k;
        if ((k = set_new(o, "keepalive", json_integer(r->keepalive_sec))) < 0 ||
            (k = set_new(o, "resumed", json_boolean(r->resumed))) < 0 ||
            (k = set_new(o, "resume_token", json_string(token))) < 0)
                return k;
        return 0;
}

static int strv_to_json(json_t *o, const char *key, char **l) {
        json_t *a;
        size_t n = 0;
        int k;

        if (!l)
                return 0;
        a = json_array();
        if ((k = set_new(o, key, a)) < 0)
                return k;
        for (char **i = l; *i; i++, n++) {
                if (n >= CONTROL_PUSH_MAX)
                        return -E2BIG;
                if (json_array_append_new(a, json_string(*i)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int control_msg_encode(const ControlMsg *m, char **ret, size_t *ret_size) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        const char *type;
        int k;

        assert_return(m && ret, -EINVAL);
        type = control_msg_type_to_string(m->type);
        if (!type)
                return -EINVAL;
        o = json_object();
        if (!o)
                return -ENOMEM;
        if ((k = set_new(o, "type", json_string(type))) < 0)
                return k;

        switch (m->type) {
        case CONTROL_MSG_RESPONSE:
                k = response_encode(o, &m->response);
                break;
        case CONTROL_MSG_ERROR: {
                const char *code = control_error_code_to_string(m->error.code);
                if (!code)
                        return -EINVAL;
                k = set_new(o, "code", json_string(code));
                if (k >= 0)
                        k = set_new(o, "message", json_string(strempty(m->error.message)));
                break;
        }
        case CONTROL_MSG_KEEPALIVE:
                k = m->keepalive.seq > 0 ? set_new(o, "seq", json_integer((json_int_t) m->keepalive.seq)) : 0;
                break;
        case CONTROL_MSG_REKEY:
                k = set_new(o, "epoch", json_integer(m->rekey.epoch));
                break;
        case CONTROL_MSG_BYE:
                k = set_new(o, "reason", json_string(strempty(m->bye.reason)));
                break;
        case CONTROL_MSG_PUSH:
                k = strv_to_json(o, "routes", m->push.routes);
                if (k >= 0)
                        k = strv_to_json(o, "dns", m->push.dns);
                break;
        default:
                return -EINVAL;
        }
        if (k < 0)
                return k;
        return dump(o, ret, ret_size);
}

static int response_decode(json_t *o, ControlResponse *r) {
        json_t *v, *p;
        int k;

        *r = (ControlResponse) { .protocol = CONTROL_PROTOCOL_V2 };
        v = json_object_get(o, "protocol");
        if (v && (!json_is_integer(v) || json_integer_value(v) != CONTROL_PROTOCOL_V2))
                return -EBADMSG;
        v = json_object_get(o, "session_id");
        if (!json_is_uint(v, UINT32_MAX) || json_integer_value(v) == 0)
                return -EBADMSG;
        r->session_id = (uint32_t) json_integer_value(v);
        v = json_object_get(o, "udp_port");
        if (!json_is_uint(v, UINT16_MAX) || json_integer_value(v) == 0)
                return -EBADMSG;
        r->udp_port = (uint16_t) json_integer_value(v);

        v = json_object_get(o, "client_ip");
        p = json_object_get(o, "client_prefix");
        if (v || p) {
                if ((k = parse_address(v, AF_INET, &r->address)) < 0)
                        return k;
                if (!json_is_uint(p, 32) || json_integer_value(p) == 0)
                        return -EBADMSG;
                r->prefixlen = (uint8_t) json_integer_value(p);
                r->has_address = true;
        }
        v = json_object_get(o, "client_ip6");
        p = json_object_get(o, "client_prefix6");
        if (v || p) {
                if ((k = parse_address(v, AF_INET6, &r->address6)) < 0)
                        return k;
                if (!json_is_uint(p, 128) || json_integer_value(p) == 0)
                        return -EBADMSG;
                r->prefixlen6 = (uint8_t) json_integer_value(p);
                r->has_address6 = true;
        }
        if (!r->has_address && !r->has_address6)
                return -EBADMSG;

        v = json_object_get(o, "mtu");
        if (v) {
                if (!json_is_uint(v, 65535) || json_integer_value(v) < 576)
                        return -EBADMSG;
                r->mtu = (uint16_t) json_integer_value(v);
        }
        v = json_object_get(o, "keepalive");
        if (!json_is_uint(v, 3600) || json_integer_value(v) == 0)
                return -EBADMSG;
        r->keepalive_sec = (uint32_t) json_integer_value(v);
        v = json_object_get(o, "resumed");
        if (v) {
                if (!json_is_boolean(v))
                        return -EBADMSG;
                r->resumed = json_is_true(v);
        }
        v = json_object_get(o, "resume_token");
        if (!json_is_string(v) || base64_decode_exact(json_string_value(v), r->resume_token, CONTROL_TOKEN_SIZE) < 0)
                return -EBADMSG;
        return 0;
}

static int optional_string(json_t *o, const char *key, size_t max, char **ret) {
        json_t *v = json_object_get(o, key);
        const char *s = "";

        if (v) {
                if (!json_is_string(v) || json_string_length(v) > max ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return -EBADMSG;
                s = json_string_value(v);
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int json_to_strv(json_t *o, const char *key, bool cidr, char ***ret) {
        json_t *a = json_object_get(o, key), *v;
        char **l;
        size_t i;

        *ret = NULL;
        if (!a)
                return 0;
        if (!json_is_array(a) || json_array_size(a) > CONTROL_PUSH_MAX)
                return -EBADMSG;
        l = new0(char *, json_array_size(a) + 1);
        if (!l)
                return -ENOMEM;
        json_array_foreach(a, i, v) {
                union in_addr_union addr;
                uint8_t plen;
                int family;

                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
                    (cidr ? in_addr_prefix_from_string(json_string_value(v), false, &family, &addr, &plen)
                          : in_addr_from_string_auto(json_string_value(v), &family, &addr)) < 0) {
                        strv_free(l);
                        return -EBADMSG;
                }
                l[i] = strdup(json_string_value(v));
                if (!l[i]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

static int msg_decode_body(json_t *o, ControlMsg *m) {
        json_t *v;
        int k;

        switch (m->type) {
        case CONTROL_MSG_RESPONSE:
                return response_decode(o, &m->response);
        case CONTROL_MSG_ERROR:
                v = json_object_get(o, "code");
                if (!json_is_string(v))
                        return -EBADMSG;
                /* A code we do not know (from a newer peer) is still an error. */
                m->error.code = control_error_code_from_string(json_string_value(v));
                if ((int) m->error.code < 0)
                        m->error.code = CONTROL_ERROR_INTERNAL;
                return optional_string(o, "message", ERROR_MESSAGE_MAX, &m->error.message);
        case CONTROL_MSG_KEEPALIVE:
                v = json_object_get(o, "seq");
                if (v) {
                        if (!json_is_uint(v, INT64_MAX))
                                return -EBADMSG;
                        m->keepalive.seq = (uint64_t) json_integer_value(v);
                }
                return 0;
        case CONTROL_MSG_REKEY:
                v = json_object_get(o, "epoch");
                if (!json_is_uint(v, UINT32_MAX))
                        return -EBADMSG;
                m->rekey.epoch = (uint32_t) json_integer_value(v);
                return 0;
        case CONTROL_MSG_BYE:
                return optional_string(o, "reason", ERROR_MESSAGE_MAX, &m->bye.reason);
        case CONTROL_MSG_PUSH:
                k = json_to_strv(o, "routes", true, &m->push.routes);
                if (k < 0)
                        return k;
                return json_to_strv(o, "dns", false, &m->push.dns);
        default:
                return -EBADMSG;
        }
}

int control_msg_decode(const char *data, size_t size, ControlMsg *ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        ControlMsg m = {};
        json_t *t;
        int r;

        assert_return(ret, -EINVAL);
        r = load(data, size, true, &o);
        if (r < 0)
                return r;
        t = json_object_get(o, "type");
        if (!json_is_string(t))
                return -EBADMSG;
        m.type = control_msg_type_from_string(json_string_value(t));
        if ((int) m.type < 0)
                return -EOPNOTSUPP; /* a message type from a newer peer: the caller ignores it */
        r = msg_decode_body(o, &m);
        if (r < 0) {
                control_msg_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int control_msg_new_error(ControlErrorCode code, const char *message, char **ret, size_t *ret_size) {
        ControlMsg m = {
                .type = CONTROL_MSG_ERROR,
                .error.code = code,
                .error.message = (char *) message,
        };
        return control_msg_encode(&m, ret, ret_size);
}
