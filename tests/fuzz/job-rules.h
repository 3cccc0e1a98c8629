/* SPDX-License-Identifier: MIT */
#pragma once

/* What README.md "Submit a job" forbids in a job document, written out again here, independently
 * of daemon/dfota/job.c, for fuzz-job and fuzz-url: a document or URL the daemon accepts must pass
 * these too (they abort() otherwise). */

#include "job.h"

/* package.url: printable ASCII from RFC 3986 only (no quotes, spaces or control characters, '%'
 * followed by two hex digits), and ftp://, http://, https:// with a host, or a local file (an
 * absolute path, or "UFS:" and a name). */
void rules_check_url(const char *url);

/* Every field of an accepted job (job.h, the README's table). */
void rules_check_job(const Job *j);

/* A reason (or any text that reaches the log): valid UTF-8, no control characters but TAB. */
void rules_check_reason(const char *reason);
