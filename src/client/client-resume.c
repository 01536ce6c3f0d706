/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>

#include "client-resume.h"

bool session_may_resume(const SessionKeys *k, bool has_token, uint32_t resume_id) {
        return has_token && resume_id != 0 && k->has_tunnel && k->session_id == resume_id;
}

SessionSetup session_setup_classify(const SessionKeys *k, bool resumed, uint32_t session_id) {
        if (!resumed)
                return SESSION_SETUP_NEW;
        if (k->has_tunnel && k->session_id == session_id)
                return SESSION_SETUP_RESUMED;
        return SESSION_SETUP_REFUSE;
}

static const char *const session_setup_table[_SESSION_SETUP_MAX] = {
        [SESSION_SETUP_NEW] = "new",
        [SESSION_SETUP_RESUMED] = "resumed",
        [SESSION_SETUP_REFUSE] = "refuse",
};

const char *session_setup_to_string(SessionSetup s) {
        return s >= 0 && s < _SESSION_SETUP_MAX ? session_setup_table[s] : NULL;
}
