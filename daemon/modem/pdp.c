/* SPDX-License-Identifier: MIT */

#include "pdp.h"
#include "string-util.h"

/* AT+QICSGP's <authentication> (the guide's §3.1 example: AT+QICSGP=1,1,"UNINET","","",1). */
static const char *const pdp_auth_table[PDP_AUTH_COUNT] = {
        [0] = "none",
        [1] = "pap",
        [2] = "chap",
        [3] = "pap-or-chap",
};

const char *pdp_auth_to_string(unsigned auth) {
        return auth < ELEMENTSOF(pdp_auth_table) ? pdp_auth_table[auth] : NULL;
}

int pdp_auth_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(pdp_auth_table); i++)
                if (streq(pdp_auth_table[i], s))
                        return (int) i;
        return -EINVAL;
}

PdpConfig *pdp_config_free(PdpConfig *p) {
        if (!p)
                return NULL;

        free(p->apn);
        free(p->username);
        erase_and_free(p->password);
        free(p->password_file);
        free(p);
        return NULL;
}
