/* SPDX-License-Identifier: MIT */
#pragma once

/* The PDP context settings of a module that downloads over one (modem layer): parsed from the
 * config (core, "modems[].pdp"), used by the DFOTA engine before AT+QFOTADL. */

#include "macro.h"

/* AT+QICSGP's <contextID> range, as the UC20 TCP/IP AT manual gives it (listed as [1] in the
 * UMTS/HSPA DFOTA User Guide ch. 6; not among ../shared/seeds/). */
#define PDP_CID_MIN 1
#define PDP_CID_MAX 16
/* The APN limit set for this key by issue 3. */
#define PDP_APN_MAX 62
/* A cap of ours on username and password: no guide here gives one, and with it the whole
 * AT+QICSGP line stays below 350 bytes. */
#define PDP_CREDENTIAL_MAX 127

/* AT+QICSGP <authentication>: 0..PDP_AUTH_COUNT-1. */
#define PDP_AUTH_COUNT 4U

/* The PDP context a module that needs one (UC20/UC15: profile needs_pdp_context) downloads over:
 * AT+QICSGP=<cid>,1,"<apn>","<username>","<password>",<auth> and AT+QCFG="fota/cid",<cid>
 * (UMTS/HSPA DFOTA User Guide ch. 3). Config key "modems[].pdp". Every string is printable ASCII
 * without '"' (it is pasted into that command line). */
typedef struct PdpConfig {
        unsigned cid;                   /* "cid": 1..16, default 1 */
        char *apn;                      /* "apn": required, 1..PDP_APN_MAX bytes */
        char *username;                 /* "username": 1..PDP_CREDENTIAL_MAX bytes; may be NULL */
        char *password;                 /* read from "password_file" (or a systemd credential), trailing
                                         * newline stripped, at most PDP_CREDENTIAL_MAX bytes; may be NULL.
                                         * A secret: never logged, wiped when freed. */
        unsigned auth;                  /* "auth": 0 none, 1 pap, 2 chap, 3 pap-or-chap (AT+QICSGP <authentication>) */
        char *password_file;            /* where the password was read from (a credential resolved to its
                                         * full path), for messages; NULL without a password */
} PdpConfig;

PdpConfig *pdp_config_free(PdpConfig *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(PdpConfig *, pdp_config_free);

/* "none", "pap", "chap", "pap-or-chap" <-> 0..3 (AT+QICSGP <authentication>); -EINVAL when unknown. */
const char *pdp_auth_to_string(unsigned auth);
int pdp_auth_from_string(const char *s);
