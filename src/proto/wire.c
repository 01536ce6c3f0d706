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

int flux_wire_header_decode(const uint8_t *buf, size_t size, FluxWireHeader *ret) {
        const uint8_t *r;

        assert_return(buf || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        if (size < FLUX_WIRE_HEADER_SIZE)
                return -EMSGSIZE;

        r = buf + 12;
        *ret = (FluxWireHeader) {
                .version = buf[0],
                .type = buf[1],
                .session_id = flux_get_be32(buf + 2),
                .seq = flux_get_be32(buf + 6),
                .length = flux_get_be16(buf + 10),
                .flags = r[0],
                .epoch = r[1],
                .data_seq = flux_get_be32(r + 2),
                .path_id = flux_get_be16(r + 6),
        };
        memcpy(ret->reserved, r, FLUX_WIRE_RESERVED_SIZE);
        return 0;
}

int flux_wire_peek_version(const uint8_t *buf, size_t size) {
        assert_return(buf || size == 0, -EINVAL);

        if (size < 1)
                return -EMSGSIZE;
        return buf[0];
}

static int wire_check_v2(const FluxWireHeader *h) {
        if (!flux_packet_type_valid(FLUX_WIRE_VERSION_2, h->type))
                return -EPROTO;
        if (h->flags & ~FLUX_WIRE_V2_FLAGS_KNOWN)
                return -EPROTO;
        /* Compression is only defined for IP payloads. */
        if ((h->flags & FLUX_WIRE_FLAG_GZIP) && h->type != FLUX_PACKET_DATA)
                return -EPROTO;
        if (h->reserved[8] != 0 || h->reserved[9] != 0)
                return -EPROTO;
        if (h->type != FLUX_PACKET_DATA && h->data_seq != 0)
                return -EPROTO;
        return 0;
}

int flux_wire_datagram_parse(const uint8_t *buf, size_t size, uint8_t expected_version,
                             FluxWireHeader *ret) {
        FluxWireHeader h;
        int r;

        assert_return(buf || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        /* The order of the first two checks is the reference receiver's (reference-go.md §1.3). */
        if (size < FLUX_WIRE_MIN_DATAGRAM)
                return -EMSGSIZE;

        r = flux_wire_header_decode(buf, size, &h);
        if (r < 0)
                return r;

        if ((size_t) h.length != size - FLUX_WIRE_HEADER_SIZE)
                return -EBADMSG;
        if (h.version != expected_version)
                return -EPROTONOSUPPORT;

        if (h.version == FLUX_WIRE_VERSION_2) {
                r = wire_check_v2(&h);
                if (r < 0)
                        return r;
        }

        *ret = h;
        return 0;
}
