/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Newline framing of the control stream, fed in chunks whose sizes come from the input, with a
 * small line limit; every framed line goes through the message decoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control-msg.h"
#include "line-buffer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        LineBuffer b;
        size_t max, off = 2, total = 0;

        if (size < 2)
                return 0;
        max = 16 + data[0] * 64U;          /* 16 … 16336 */
        b = LINE_BUFFER_INIT(max);
        while (off < size) {
                size_t chunk = 1 + (data[1] ^ (uint8_t) off) % 97;
                char *line;
                size_t len;
                int r;

                chunk = chunk > size - off ? size - off : chunk;
                if (line_buffer_append(&b, data + off, chunk) < 0)
                        abort();
                off += chunk;
                while ((r = line_buffer_next(&b, &line, &len)) > 0) {
                        ControlMsg m = {};
                        ControlRequest req = {};

                        if (len > max || memchr(line, '\n', len) || line[len] != 0)
                                abort();
                        total += len + 1;
                        if (control_msg_decode(line, len, &m) >= 0)
                                control_msg_done(&m);
                        if (control_request_decode(line, len, &req) >= 0)
                                control_request_done(&req);
                }
                if (r < 0) {
                        if (r != -EMSGSIZE)
                                abort();
                        break; /* the stream would be dropped here */
                }
                if (line_buffer_pending(&b) > max)
                        abort();
                if (strlen(line_buffer_rest(&b)) > line_buffer_pending(&b))
                        abort();
        }
        if (total > size)
                abort();
        line_buffer_done(&b);
        return 0;
}
