/* SPDX-License-Identifier: MIT */
#pragma once

/* Pure parsers of the information lines of the AT commands dfotad sends outside DFOTA itself:
 * identification (ATI, AT+GSN) and the preflight checks (+CREG/+CEREG/+CGREG, +CSQ, +CESQ,
 * +CGPADDR). No I/O and no state: they take the lines the AT channel collected (at-channel.h's
 * AtResponse.lines, NULL-terminated) or one line, and write their outputs only on success. What
 * the values mean for a job is the engine's business. */

#include "macro.h"

/* ATI (Quectel: "Quectel", "<model>", "Revision: <revision>"; the NB-IoT modules print
 * "Quectel_Ltd", "Quectel_<model>", BC26 AT commands manual "ATI"). Lines that are neither (boot
 * noise that slipped in) are skipped. Returns 0 and newly allocated strings (either output may be
 * NULL to skip it), -EBADMSG when there is no non-empty "Revision:" line, or -ENOMEM. */
int at_parse_ati(char *const *lines, char **ret_model, char **ret_revision);

/* AT+GSN: the first line of 14-17 digits (plain, or "+GSN:"/"+CGSN:" with optional quotes).
 * Returns 0 and a newly allocated IMEI, -EBADMSG, or -ENOMEM. */
int at_parse_gsn(char *const *lines, char **ret_imei);

/* The first line of lines that starts with prefix ("+CSQ:"), or NULL. */
const char *at_find_line(char *const *lines, const char *prefix);

/* "+CREG: <n>,<stat>[,...]" and its +CEREG/+CGREG siblings (3GPP TS 27.007 §7.2, §10.1.22,
 * §10.1.19): *ret_stat gets <stat>. Returns 0 or -EBADMSG. */
int at_parse_registration(const char *line, int *ret_stat);

/* Whether a registration <stat> means registered: 1 home network, 5 roaming (TS 27.007 §7.2). */
bool at_registration_is_registered(int stat);

/* "+CSQ: <rssi>,<ber>" (TS 27.007 §8.5): *ret_rssi gets <rssi> (0..31, 99 = not known). Returns 0
 * or -EBADMSG. */
int at_parse_csq(const char *line, int *ret_rssi);

/* "+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>" (TS 27.007 §8.69): *ret_rsrp gets <rsrp>
 * (0..97 = -140..-44 dBm, 255 = not known). Returns 0 or -EBADMSG. */
int at_parse_cesq(const char *line, int *ret_rsrp);

/* "+CGPADDR: <cid>,<PDP_addr>" (TS 27.007 §10.1.14): whether it carries an address that is not
 * empty and not 0.0.0.0 (BC26 DFOTA User Guide §2.3 "Check Network Status"). */
bool at_cgpaddr_has_address(const char *line);
