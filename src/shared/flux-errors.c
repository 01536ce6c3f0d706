/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "flux-errors.h"
#include "macro.h"

const sd_bus_error_map flux_error_map[] = {
        SD_BUS_ERROR_MAP(FLUX_ERROR_NO_SUCH_SESSION, ENXIO),
        SD_BUS_ERROR_MAP(FLUX_ERROR_NO_SUCH_CERTIFICATE, ENOENT),
        SD_BUS_ERROR_MAP(FLUX_ERROR_CERTIFICATE_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(FLUX_ERROR_ALREADY_CONNECTED, EALREADY),
        SD_BUS_ERROR_MAP(FLUX_ERROR_NOT_CONNECTED, ENOTCONN),
        SD_BUS_ERROR_MAP(FLUX_ERROR_NO_USABLE_UPLINK, ENETUNREACH),
        SD_BUS_ERROR_MAP(FLUX_ERROR_NO_SUCH_INTERFACE, ENODEV),
        SD_BUS_ERROR_MAP(FLUX_ERROR_INVALID_CONFIG, EBADMSG),
        SD_BUS_ERROR_MAP(FLUX_ERROR_PKI_NOT_INITIALIZED, ENOKEY),
        SD_BUS_ERROR_MAP_END,
};

int flux_errors_register(void) {
        int r = sd_bus_error_add_map(flux_error_map);
        return r < 0 ? r : 0;
}

bool flux_profile_name_is_valid(const char *p) {
        size_t n;

        if (!p || !((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')))
                return false;
        n = strlen(p);
        if (n > FLUX_PROFILE_NAME_MAX)
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = p[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                        return false;
        }
        return true;
}
