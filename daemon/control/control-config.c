/* SPDX-License-Identifier: MIT */

#include "control-config.h"
#include "string-util.h"

static const char *const mqtt_dialect_table[_MQTT_DIALECT_MAX] = {
        [MQTT_DIALECT_PLAIN]         = "plain",
        [MQTT_DIALECT_AWS_IOT_JOBS]  = "aws-iot-jobs",
};

DEFINE_STRING_TABLE_LOOKUP(mqtt_dialect, MqttDialect);

MqttConfig *mqtt_config_free(MqttConfig *c) {
        if (!c)
                return NULL;

        free(c->host);
        free(c->device_id);
        free(c->client_id);
        free(c->thing_name);
        free(c->prefix);
        free(c->username);
        erase_and_free(c->password);
        free(c->password_file);
        free(c->ca_file);
        free(c->certificate_file);
        free(c->key_file);
        free(c->alpn);
        free(c);
        return NULL;
}

void control_planes_config_done(ControlPlanesConfig *c) {
        c->inbox = mfree(c->inbox);
        c->mqtt = mqtt_config_free(c->mqtt);
}
