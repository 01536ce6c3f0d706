/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The data-plane datagram header shared by wire protocol versions 1 and 2 (docs/protocol.md).
 *
 *   datagram = header(22) || nonce(12) || ciphertext || tag(16)
 *   header   = version u8 | type u8 | session_id u32 | seq u32 | length u16 | reserved[10]
 *
 * All integers are big-endian; `length` counts every byte after the header. The codec is pure: no
 * allocation, no I/O. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define FLUX_WIRE_HEADER_SIZE 22U
#define FLUX_WIRE_NONCE_SIZE 12U
#define FLUX_WIRE_TAG_SIZE 16U
#define FLUX_WIRE_RESERVED_SIZE 10U
/* Offset of the first plaintext/ciphertext byte in a datagram. */
#define FLUX_WIRE_PAYLOAD_OFFSET (FLUX_WIRE_HEADER_SIZE + FLUX_WIRE_NONCE_SIZE)
/* Bytes a datagram adds around its payload; also the minimum datagram size (empty payload). */
#define FLUX_WIRE_OVERHEAD (FLUX_WIRE_HEADER_SIZE + FLUX_WIRE_NONCE_SIZE + FLUX_WIRE_TAG_SIZE)
#define FLUX_WIRE_MIN_DATAGRAM FLUX_WIRE_OVERHEAD
/* The length field is a u16, so this is the largest payload a datagram can carry. */
#define FLUX_WIRE_MAX_PAYLOAD (UINT16_MAX - FLUX_WIRE_NONCE_SIZE - FLUX_WIRE_TAG_SIZE)
/* Version 1 receivers (the Go reference) inflate gzip payloads to at most this many bytes. */
#define FLUX_WIRE_V1_MAX_PACKET 1500U

enum {
        FLUX_WIRE_VERSION_1 = 1,
        FLUX_WIRE_VERSION_2 = 2,
};

/* Packet types. Version 1 names the first three IP, heartbeat and handshake; 4 (control) is
 * defined by version 1 but never sent; 5 and 6 exist only in version 2. */
typedef enum FluxPacketType {
        FLUX_PACKET_DATA = 1,
        FLUX_PACKET_PROBE = 2,
        FLUX_PACKET_REGISTER = 3,
        FLUX_PACKET_CONTROL_V1 = 4,
        FLUX_PACKET_PROBE_REPLY = 5,
        FLUX_PACKET_REGISTER_ACK = 6,
        _FLUX_PACKET_TYPE_MAX,
        _FLUX_PACKET_TYPE_INVALID = -EINVAL,
} FluxPacketType;

/* reserved[0] in both versions. */
#define FLUX_WIRE_FLAG_GZIP 0x01U
#define FLUX_WIRE_V2_FLAGS_KNOWN FLUX_WIRE_FLAG_GZIP

/* A decoded header.
 *
 * `reserved` always holds the ten raw bytes. The named fields below it are the version 2 view of
 * those bytes: decoding fills both; encoding a version 2 header builds reserved[] from the named
 * fields (reserved[] is ignored), any other version writes reserved[] as is (so the version 1 gzip
 * flag is reserved[0]). */
typedef struct FluxWireHeader {
        uint8_t version;
        uint8_t type;
        uint32_t session_id;
        uint32_t seq;           /* v1: per-direction IP counter; v2: per-path sequence */
        uint16_t length;        /* bytes after the header: nonce + ciphertext + tag */
        uint8_t reserved[FLUX_WIRE_RESERVED_SIZE];

        /* Version 2 view of reserved[]. */
        uint8_t flags;          /* reserved[0]; only FLUX_WIRE_FLAG_GZIP is defined */
        uint8_t epoch;          /* reserved[1]; key epoch mod 256 */
        uint32_t data_seq;      /* reserved[2..5]; per-direction data sequence, 0 unless DATA */
        uint16_t path_id;       /* reserved[6..7]; the sender's path id */
                                /* reserved[8..9] must be zero */
} FluxWireHeader;

/* Writes the 22 header bytes. Never fails. */
void flux_wire_header_encode(const FluxWireHeader *h, uint8_t out[static FLUX_WIRE_HEADER_SIZE]);

/* Decodes the first 22 bytes of buf without judging them. -EMSGSIZE if size < 22. */
int flux_wire_header_decode(const uint8_t *buf, size_t size, FluxWireHeader *ret);

/* Decodes and validates a received datagram's header, with the checks in this order:
 *   -EMSGSIZE          datagram shorter than FLUX_WIRE_MIN_DATAGRAM (50)
 *   -EBADMSG           length field != size - 22 (so trailing bytes and truncation are rejected)
 *   -EPROTONOSUPPORT   version is not `expected_version`
 *   -EPROTO            (version 2 only) unknown type, unknown flag bits, reserved[8..9] not zero,
 *                      or a data sequence on a non-DATA packet
 * Version 1 is lenient like the reference where it is harmless: reserved[1..9] and the type are
 * not judged (they are authenticated as AAD; the caller ignores types it does not handle). */
int flux_wire_datagram_parse(const uint8_t *buf, size_t size, uint8_t expected_version,
                             FluxWireHeader *ret);

/* Reads the version byte of a datagram to pick a protocol; -EMSGSIZE if empty. */
int flux_wire_peek_version(const uint8_t *buf, size_t size);

bool flux_packet_type_valid(uint8_t version, uint8_t type) _const_;
const char *flux_packet_type_to_string(FluxPacketType t) _const_;

/* Wrap-safe (RFC 1982 style) comparison of 32-bit sequence numbers: negative if a is before b,
 * 0 if equal, positive if after. Distances of 2^31 are ordered by their signed difference. */
static inline int32_t flux_seq_diff(uint32_t a, uint32_t b) {
        return (int32_t) (a - b);
}
static inline bool flux_seq_before(uint32_t a, uint32_t b) {
        return flux_seq_diff(a, b) < 0;
}
static inline bool flux_seq_after(uint32_t a, uint32_t b) {
        return flux_seq_diff(a, b) > 0;
}

/* Big-endian helpers used by the codec and its neighbours. */
static inline void flux_put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}
static inline void flux_put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}
static inline void flux_put_be64(uint8_t *p, uint64_t v) {
        flux_put_be32(p, (uint32_t) (v >> 32));
        flux_put_be32(p + 4, (uint32_t) v);
}
static inline uint16_t flux_get_be16(const uint8_t *p) {
        return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}
static inline uint32_t flux_get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static inline uint64_t flux_get_be64(const uint8_t *p) {
        return (uint64_t) flux_get_be32(p) << 32 | flux_get_be32(p + 4);
}
