/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "macro.h"
#include "wire.h"

static const char *const flux_packet_type_table[_FLUX_PACKET_TYPE_MAX] = {
        [FLUX_PACKET_DATA] = "data",
        [FLUX_PACKET_PROBE] = "probe",
        [FLUX_PACKET_REGISTER] = "register",
        [FLUX_PACKET_CONTROL_V1] = "control",
        [FLUX_PACKET_PROBE_REPLY] = "probe-reply",
        [FLUX_PACKET_REGISTER_ACK] = "register-ack",
};

const char *flux_packet_type_to_string(FluxPacketType t) {
        if ((int) t < 0 || (size_t) t >= ELEMENTSOF(flux_packet_type_table))
                return NULL;
        return flux_packet_type_table[t];
}

bool flux_packet_type_valid(uint8_t version, uint8_t type) {
        switch (version) {
        case FLUX_WIRE_VERSION_1:
                return type >= FLUX_PACKET_DATA && type <= FLUX_PACKET_CONTROL_V1;
        case FLUX_WIRE_VERSION_2:
                return type >= FLUX_PACKET_DATA && type < _FLUX_PACKET_TYPE_MAX &&
                        type != FLUX_PACKET_CONTROL_V1;
        default:
                return false;
        }
}

void flux_wire_header_encode(const FluxWireHeader *h, uint8_t out[static FLUX_WIRE_HEADER_SIZE]) {
        assert(h);
        assert(out);

        out[0] = h->version;
        out[1] = h->type;
        flux_put_be32(out + 2, h->session_id);
        flux_put_be32(out + 6, h->seq);
        flux_put_be16(out + 10, h->length);

        if (h->version == FLUX_WIRE_VERSION_2) {
                uint8_t *r = out + 12;

                r[0] = h->flags;
                r[1] = h->epoch;
                flux_put_be32(r + 2, h->data_seq);
                flux_put_be16(r + 6, h->path_id);
                r[8] = r[9] = 0;
        } else
                memcpy(out + 12, h->reserved, FLUX_WIRE_RESERVED_SIZE);
}

/* Field by field straight from the buffer into *ret: no intermediate struct, so the caller's
 * later wide loads of *ret are not stalled on narrow stores (this is on the per-packet path). */
static void header_decode(const uint8_t *buf, FluxWireHeader *ret) {
        const uint8_t *r = buf + 12;

        ret->version = buf[0];
        ret->type = buf[1];
        ret->session_id = flux_get_be32(buf + 2);
        ret->seq = flux_get_be32(buf + 6);
        ret->length = flux_get_be16(buf + 10);
        memcpy(ret->reserved, r, FLUX_WIRE_RESERVED_SIZE);
        ret->flags = r[0];
        ret->epoch = r[1];
        ret->data_seq = flux_get_be32(r + 2);
        ret->path_id = flux_get_be16(r + 6);
}

int flux_wire_header_decode(const uint8_t *buf, size_t size, FluxWireHeader *ret) {
        assert_return(buf || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        if (size < FLUX_WIRE_HEADER_SIZE)
                return -EMSGSIZE;

        header_decode(buf, ret);
        return 0;
}

int flux_wire_peek_version(const uint8_t *buf, size_t size) {
        assert_return(buf || size == 0, -EINVAL);

        if (size < 1)
                return -EMSGSIZE;
        return buf[0];
}

/* The version 2 field rules, on the raw header bytes. */
static int wire_check_v2(const uint8_t *buf) {
        const uint8_t type = buf[1], flags = buf[12];

        if (!flux_packet_type_valid(FLUX_WIRE_VERSION_2, type))
                return -EPROTO;
        if (flags & ~FLUX_WIRE_V2_FLAGS_KNOWN)
                return -EPROTO;
        /* Compression is only defined for IP payloads. */
        if ((flags & FLUX_WIRE_FLAG_GZIP) && type != FLUX_PACKET_DATA)
                return -EPROTO;
        if (buf[20] != 0 || buf[21] != 0)
                return -EPROTO;
        if (type != FLUX_PACKET_DATA && flux_get_be32(buf + 14) != 0)
                return -EPROTO;
        return 0;
}

int flux_wire_datagram_parse(const uint8_t *buf, size_t size, uint8_t expected_version,
                             FluxWireHeader *ret) {
        int r;

        assert_return(buf || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        /* The order of the first two checks is the reference receiver's (reference-go.md §1.3). */
        if (size < FLUX_WIRE_MIN_DATAGRAM)
                return -EMSGSIZE;
        if ((size_t) flux_get_be16(buf + 10) != size - FLUX_WIRE_HEADER_SIZE)
                return -EBADMSG;
        if (buf[0] != expected_version)
                return -EPROTONOSUPPORT;

        if (expected_version == FLUX_WIRE_VERSION_2) {
                r = wire_check_v2(buf);
                if (r < 0)
                        return r;
        }

        header_decode(buf, ret);
        return 0;
}
