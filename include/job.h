/* SPDX-License-Identifier: MIT */
#pragma once

/* The job document (one schema for every control plane; ../shared/product.md "The job document")
 * and the job execution states every control plane reports. */

#include <json-c/json.h>

#include "macro.h"

typedef enum JobState {
        JOB_QUEUED,
        JOB_PREFLIGHT,
        JOB_DOWNLOADING,
        JOB_DOWNLOADED,
        JOB_UPDATING,
        JOB_VERIFYING,
        JOB_WAITING_FOR_MODEM,
        JOB_SUCCEEDED,
        JOB_FAILED,
        JOB_REJECTED,
        JOB_CANCELED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -EINVAL,
} JobState;

/* "QUEUED", "PREFLIGHT", ..., "WAITING_FOR_MODEM", "SUCCEEDED", "FAILED", "REJECTED", "CANCELED" */
DECLARE_STRING_TABLE_LOOKUP(job_state, JobState);

/* SUCCEEDED, FAILED, REJECTED, CANCELED */
bool job_state_is_terminal(JobState s);

typedef enum JobDelivery {
        JOB_DELIVERY_MODEM,         /* the module downloads itself: AT+QFOTADL=<url> */
        JOB_DELIVERY_HOST,          /* dfotad downloads and uploads (AT+QFUPL); not supported yet */
        _JOB_DELIVERY_MAX,
        _JOB_DELIVERY_INVALID = -EINVAL,
} JobDelivery;

DECLARE_STRING_TABLE_LOOKUP(job_delivery, JobDelivery);

#define JOB_ID_MAX 64

/* The job id rule, [A-Za-z0-9_-]{1,64}, in one place: an id becomes a record's file name and an
 * MQTT topic level, so nothing else may pass (ASCII only, whatever the locale). */
bool job_id_char_is_valid(char c);
/* True when s (NULL allowed: false) follows the job id rule. */
bool job_id_is_valid(const char *s);

typedef struct Job {
        char *id;                   /* [A-Za-z0-9_-]{1,64} */
        char *modem_imei;           /* selector "modem": {"imei": ...}; 15 digits; may be NULL */
        char *modem_model;          /* selector "modem": {"model": ...}; may be NULL */
        char *source_version;       /* may be NULL */
        char *target_version;       /* required */
        char *url;                  /* package.url, required */
        char *sha256;               /* package.sha256, 64 hex digits, lower-cased; may be NULL */
        uint64_t size;              /* package.size in bytes; 0 = not given */
        JobDelivery delivery;       /* default JOB_DELIVERY_MODEM */
} Job;

/* Parses and validates a job document. Validation is family-independent (the family's URL length
 * and prefix rules are checked by modem_profile_check_url() once the modem is known):
 *  - top level must be an object; unknown keys are errors;
 *  - id: string matching [A-Za-z0-9_-]{1,64};
 *  - modem: optional object with exactly one of "imei" (15 digits) or "model" (non-empty, printable);
 *  - source_version, target_version: printable ASCII without '"', 1..64 bytes; target required;
 *  - package: object; url required and passes job_check_url_syntax(); sha256 optional (64 hex);
 *    size optional (integer > 0);
 *  - delivery: optional, "modem" or "host"; "host" requires package.sha256 and package.size.
 * Returns 0 and the job in *ret, or -EINVAL with a newly allocated reason in *reterr that starts with
 * the field's path, e.g. "package.url: contains '\"'", or -ENOMEM. */
int job_from_json(json_object *o, Job **ret, char **reterr);

/* A job document is at most this many bytes, on every control plane: checked before it is parsed,
 * so that a hostile or broken sender cannot make the daemon allocate without bound. */
#define JOB_DOCUMENT_MAX (256U * 1024U)

/* The checks every document passes before it is parsed: at most JOB_DOCUMENT_MAX bytes (-EFBIG,
 * "(document): is N bytes, more than the 262144 a job document may have") and no NUL byte (-EINVAL,
 * "(document): contains a NUL byte at offset N": json-c and C strings would silently stop there).
 * size: the bytes received. Returns 0 or the error with *reterr set (reterr may be NULL). */
int job_document_check(const char *text, size_t size, char **reterr);

/* The same from text (size bytes, NUL-terminated), after job_document_check(). Malformed JSON or
 * invalid UTF-8: -EINVAL with reason "(document): not valid JSON: <json-c message> at line L,
 * column C". */
int job_parse(const char *text, size_t size, Job **ret, char **reterr);

/* Serialises back to the job document form. Returns a new reference or NULL on OOM. */
json_object *job_to_json(const Job *j);

/* The URL is pasted into an AT command line, so anything else is an injection: non-empty,
 * printable ASCII only (0x21..0x7e: no spaces, no control characters), no '"', only characters
 * RFC 3986 allows (unreserved, reserved and '%' followed by two hex digits), and either an
 * ftp://, http:// or https:// scheme with a non-empty host, or a local file: an absolute path
 * ("/...") or "UFS:" followed by one or more RFC 3986 path characters (UC20/UC15, UMTS/HSPA DFOTA
 * User Guide §3.3). Length limits and which local form a module takes are per family
 * (modem_profile_check_url()). Returns 0 or -EINVAL with *reterr set to a
 * reason (without the field name), newly allocated. */
int job_check_url_syntax(const char *url, char **reterr);

Job *job_free(Job *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Job *, job_free);
