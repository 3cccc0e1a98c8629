/* SPDX-License-Identifier: MIT */

#include "control-plane.h"

static const char *const control_plane_modem_state_table[_CONTROL_PLANE_MODEM_STATE_MAX] = {
        [CONTROL_PLANE_MODEM_IDLE]        = "idle",
        [CONTROL_PLANE_MODEM_BUSY]        = "busy",
        [CONTROL_PLANE_MODEM_ABSENT]      = "absent",
        [CONTROL_PLANE_MODEM_IDENTIFYING] = "identifying",
};

DEFINE_STRING_TABLE_LOOKUP(control_plane_modem_state, ControlPlaneModemState);
