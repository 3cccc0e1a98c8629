/* SPDX-License-Identifier: MIT */

#include "control-plane.h"
#include "log.h"

static const char *const control_plane_modem_state_table[_CONTROL_PLANE_MODEM_STATE_MAX] = {
        [CONTROL_PLANE_MODEM_IDLE]        = "idle",
        [CONTROL_PLANE_MODEM_BUSY]        = "busy",
        [CONTROL_PLANE_MODEM_ABSENT]      = "absent",
        [CONTROL_PLANE_MODEM_IDENTIFYING] = "identifying",
};

DEFINE_STRING_TABLE_LOOKUP(control_plane_modem_state, ControlPlaneModemState);

/* ---- the list of planes ---- */

typedef struct ControlPlaneConstructor {
        const char *name;
        /* Sets *ret to NULL and returns 0 when config does not configure the plane. */
        int (*new)(const ControlPlaneHost *host, const ControlPlanesConfig *config, ControlPlane **ret);
} ControlPlaneConstructor;

static int local_new(const ControlPlaneHost *host, const ControlPlanesConfig *config, ControlPlane **ret) {
        /* Always there: the fallback plane (CONTROL_PLANE_FALLBACK), and dfotactl's. */
        return local_control_plane_new(host, config->inbox, ret);
}

static int mqtt_new(const ControlPlaneHost *host, const ControlPlanesConfig *config, ControlPlane **ret) {
        if (!config->mqtt) {
                *ret = NULL;
                return 0;
        }
        return mqtt_control_plane_new(host, config->mqtt, ret);
}

/* The order is the planes' order in the list: local starts first, so that documents waiting in
 * the inbox are taken before the MQTT outbox replays what the last run could not deliver and new
 * work comes in from the broker. */
static const ControlPlaneConstructor constructors[] = {
        { "local", local_new },
        { "mqtt",  mqtt_new  },
};

int control_planes_new(const ControlPlaneHost *host, const ControlPlanesConfig *config, ControlPlane ***ret, size_t *ret_n) {
        ControlPlane **planes;
        size_t n = 0;
        int r;

        planes = calloc(ELEMENTSOF(constructors), sizeof(ControlPlane *));
        if (!planes)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(constructors); i++) {
                ControlPlane *cp = NULL;

                r = constructors[i].new(host, config, &cp);
                if (r < 0) {
                        control_planes_free(planes, n);
                        return log_error_errno(r, "Failed to set up the %s control plane: %m", constructors[i].name);
                }
                if (cp)
                        planes[n++] = cp;
        }

        *ret = planes;
        *ret_n = n;
        return 0;
}

ControlPlane **control_planes_free(ControlPlane **planes, size_t n) {
        for (size_t i = 0; i < n; i++)
                control_plane_free(planes[i]);
        free(planes);
        return NULL;
}

ControlPlane *control_plane_find(ControlPlane *const *planes, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(planes[i]->vtable->name, name))
                        return planes[i];
        return NULL;
}
