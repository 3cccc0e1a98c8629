/* SPDX-License-Identifier: MIT */

/* The MQTT control plane's message handlers (daemon/control/mqtt.c, mqtt-plain.c, mqtt-aws.c),
 * driven through mqtt_handle_message() with no broker: a real Manager (no modems, no hotplug) over
 * a fresh state directory per input, the dialect's state as a restart would find it (AWS: one
 * execution known, "known-1"), then up to four messages. Input:
 *   byte 0: bit 0 picks the dialect (plain, aws-iot-jobs)
 *   then per message: [topic selector] [topic length] [topic bytes] [payload length, 2 bytes BE]
 *   [payload]; the topic is the selector's entry of the dialect's table below followed by the
 *   topic bytes. An AWS start-next answer is expected with clientToken "fuzz-token".
 * Besides what ASan/UBSan/LeakSanitizer see, it checks that what the handlers recorded is sound:
 * every record in jobs/ loads, its id is a valid job id, and a job the plain dialect got on
 * P/D/jobs/<id> with a valid <id> is recorded under that id. */

#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>

#include "../../daemon/control/mqtt-internal.h"
#include "fuzz-util.h"
#include "manager.h"
#include "record.h"

#define DEVICE "gw-1"
#define AWS_PREFIX "$aws/things/" DEVICE "/jobs/"
#define PLAIN_PREFIX "dfotad/" DEVICE "/"
#define MESSAGES_MAX 4

static const char *const plain_topics[] = {
        PLAIN_PREFIX "jobs/",
        PLAIN_PREFIX "jobs/job-7",
        PLAIN_PREFIX,
        "",
};

static const char *const aws_topics[] = {
        AWS_PREFIX "notify-next",
        AWS_PREFIX "start-next/accepted",
        AWS_PREFIX "start-next/rejected",
        AWS_PREFIX "known-1/update/accepted",
        AWS_PREFIX "known-1/update/rejected",
        AWS_PREFIX "known-1/get/accepted",
        AWS_PREFIX "known-1/get/rejected",
        AWS_PREFIX,
};

static int setup_state(const char *state, bool aws, char **ret_config) {
        _cleanup_free_ char *config = NULL, *text = NULL, *dir = NULL, *file = NULL;
        int r;

        r = fuzz_clear_dir(state);
        if (r < 0)
                return r;

        if (asprintf(&text,
                     "{\"state_directory\":\"%s\",\"hotplug\":false,\"log_level\":\"crit\","
                     "\"mqtt\":{\"dialect\":\"%s\",\"host\":\"/nonexistent/mqtt.sock\",\"device_id\":\"" DEVICE "\"}}",
                     state, aws ? "aws-iot-jobs" : "plain") < 0 ||
            asprintf(&config, "%s/dfotad.json", state) < 0)
                return -ENOMEM;
        r = fuzz_write_file(config, text, strlen(text));
        if (r < 0)
                return r;

        if (aws) {
                static const char known[] =
                        "{\"job_id\":\"known-1\",\"execution_number\":1,\"version_number\":1,"
                        "\"server_ended\":false,\"reported_terminal\":false}";

                if (asprintf(&dir, "%s/mqtt", state) < 0)
                        return -ENOMEM;
                (void) mkdir(dir, 0750);
                free(dir);
                if (asprintf(&dir, "%s/mqtt/aws", state) < 0 || asprintf(&file, "%s/known-1.json", dir) < 0)
                        return -ENOMEM;
                (void) mkdir(dir, 0750);
                r = fuzz_write_file(file, known, strlen(known));
                if (r < 0)
                        return r;
        }

        *ret_config = TAKE_PTR(config);
        return 0;
}

static int check_record(const char *path, JobRecord **rec, const char *why, void *userdata) {
        /* The handlers wrote it: it must read back. */
        if (!*rec)
                fuzz_fail("a record the MQTT handlers wrote does not load: %s: %s", path, strna(why));
        fuzz_assert(job_id_is_valid((*rec)->job->id));
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manager_freep) Manager *manager = NULL;
        _cleanup_free_ char *state = NULL, *config_path = NULL, *reason = NULL;
        const char *const *topics;
        size_t n_topics, i = 1;
        Config *config = NULL;
        bool aws;
        Mqtt *m;
        int r;

        fuzz_setup();

        if (size < 1)
                return 0;
        aws = data[0] & 1;
        topics = aws ? aws_topics : plain_topics;
        n_topics = aws ? ELEMENTSOF(aws_topics) : ELEMENTSOF(plain_topics);

        if (asprintf(&state, "%s/state", fuzz_scratch_dir()) < 0)
                return 0;
        (void) mkdir(state, 0750);
        if (setup_state(state, aws, &config_path) < 0)
                fuzz_fail("cannot set up %s", state);

        r = config_load(config_path, true, &config, &reason);
        if (r < 0)
                fuzz_fail("the harness's configuration does not load: %s", strna(reason));
        r = manager_new(config, &manager);
        if (r < 0)
                fuzz_fail("manager_new(): %s", strerror(-r));
        m = (Mqtt *) control_plane_find(manager->planes, manager->n_planes, "mqtt");
        fuzz_assert(m);
        if (aws)
                fuzz_assert(mqtt_aws_set_start_next_token(m, "fuzz-token") == 0);

        for (size_t k = 0; k < MESSAGES_MAX && i + 4 <= size; k++) {
                _cleanup_free_ char *topic = NULL, *payload = NULL;
                const char *base = topics[data[i] % n_topics];
                size_t topic_len = data[i + 1], payload_len;

                i += 2;
                if (i + topic_len + 2 > size)
                        break;
                if (asprintf(&topic, "%s%.*s", base, (int) topic_len, (const char *) data + i) < 0)
                        break;
                i += topic_len;
                payload_len = (size_t) data[i] << 8 | data[i + 1];
                i += 2;
                payload_len = MIN(payload_len, size - i);
                /* libmosquitto hands payloads over NUL-terminated; so do we. */
                payload = fuzz_strndup0(data + i, payload_len);
                if (!payload)
                        break;
                i += payload_len;

                mqtt_handle_message(m, topic, payload, payload_len);

                /* A plain job topic with a valid id: that id is recorded (accepted or rejected). */
                if (!aws && payload_len > 0) {
                        const char *level = startswith(topic, PLAIN_PREFIX "jobs/");

                        if (level && !strchr(level, '/') && job_id_is_valid(level))
                                fuzz_assert(manager_job_exists(manager, level));
                }
        }

        /* Deferred work (the outbox pump) runs; there is no connection, so it sends nothing. */
        for (unsigned k = 0; k < 4; k++)
                if (sd_event_run(manager->event, 0) <= 0)
                        break;

        fuzz_assert(job_record_foreach(manager->jobs_directory, check_record, NULL) >= 0);
        return 0;
}
