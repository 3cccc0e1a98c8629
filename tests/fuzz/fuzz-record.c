/* SPDX-License-Identifier: MIT */

/* Job records (record.h), the bytes as a file in <state_directory>/jobs/: load -> save -> load ->
 * save. The file is named after the "id" (and "execution") the input carries, so that records can
 * pass the name check. What job_record_load() accepts must be saved (job_record_save_durable())
 * and load again, and from there the record is stable: the second and third serialisations are
 * byte-identical (updated_at, which a save sets to now by design, is pinned for the comparison).
 * The status derived for a control plane exists for every loaded record. */

#include <stdio.h>
#include <sys/stat.h>

#include "fuzz-util.h"
#include "json-util.h"
#include "record.h"

/* A name the record can be saved under: "<id>.json" or "<id>@<execution>.json" when both are
 * usable as a file name, else one no record can match. */
static char *record_path(const char *dir, const char *text, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *id = NULL, *execution = NULL;
        json_object *v;
        char *path;

        if (json_parse_strict(text, size, NULL, &o, NULL) >= 0 && json_object_is_type(o, json_type_object)) {
                if (json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_string))
                        id = json_object_get_string(v);
                if (json_object_object_get_ex(o, "execution", &v) && json_object_is_type(v, json_type_string))
                        execution = json_object_get_string(v);
        }
        if (isempty(id) || strlen(id) > JOB_ID_MAX || strpbrk(id, "/@") || id[0] == '.')
                id = "not-a-record";
        if (execution && (isempty(execution) || strlen(execution) > 32 || strchr(execution, '/')))
                execution = NULL;

        if (asprintf(&path, "%s/%s%s%s.json", dir, id, execution ? "@" : "", strempty(execution)) < 0)
                return NULL;
        return path;
}

static char *serialise(JobRecord *r) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *s;

        r->updated_at = 1;
        o = job_record_to_json(r);
        if (!o)
                return NULL;
        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        return s ? strdup(s) : NULL;
}

static JobRecord *save_and_load(JobRecord *r) {
        JobRecord *again = NULL;
        int k;

        k = job_record_save_durable(r);
        if (k < 0)
                fuzz_fail("a loaded record cannot be saved: %s: %s", r->path, strerror(-k));
        k = job_record_load(r->path, &again);
        if (k < 0)
                fuzz_fail("a saved record does not load again: %s: %s", r->path, strerror(-k));
        return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(job_record_freep) JobRecord *r1 = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_(json_object_putp) json_object *status = NULL;
        _cleanup_free_ char *dir = NULL, *text = NULL, *path = NULL, *s2 = NULL, *s3 = NULL;
        int k;

        fuzz_setup();

        if (asprintf(&dir, "%s/jobs", fuzz_scratch_dir()) < 0)
                return 0;
        (void) mkdir(dir, 0700);
        (void) fuzz_clear_dir(dir);

        text = fuzz_strndup0(data, size);
        if (!text)
                return 0;
        path = record_path(dir, text, size);
        if (!path || fuzz_write_file(path, data, size) < 0)
                return 0;

        k = job_record_load(path, &r1);
        if (k < 0) {
                fuzz_assert(k == -EINVAL || k == -ENOMEM);
                fuzz_assert(!r1);
                return 0;
        }
        fuzz_assert(r1 && r1->job && r1->history && r1->attempts);
        fuzz_assert(r1->state >= 0 && r1->state < _JOB_STATE_MAX);
        fuzz_assert(r1->phase >= 0 && r1->phase < _DFOTA_PHASE_MAX);
        fuzz_assert(r1->progress <= 100);
        fuzz_assert(job_record_name(r1));

        status = job_record_status_to_json(r1);
        fuzz_assert(status);

        r2 = save_and_load(r1);
        s2 = serialise(r2);
        r3 = save_and_load(r2);
        s3 = serialise(r3);
        fuzz_assert(s2 && s3);
        if (!streq(s2, s3))
                fuzz_fail("a record is not stable across save and load:\n--- second\n%s\n--- third\n%s", s2, s3);

        return 0;
}
