/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <json-c/json.h>

#include "config.h"
#include "json-util.h"
#include "log.h"
#include "reason.h"
#include "string-util.h"

static const char *const reset_method_table[_RESET_METHOD_MAX] = {
        [RESET_METHOD_AT]      = "at",
        [RESET_METHOD_COMMAND] = "command",
};

DEFINE_STRING_TABLE_LOOKUP(reset_method, ResetMethod);

/* A day: longer than any step of an upgrade takes, and short enough to catch milliseconds written
 * where seconds are meant (240000 for four minutes). */
#define TIMEOUT_MAX_SEC 86400

/* A config file is a few hundred bytes; the cap only stops us reading a device or a huge file
 * given by mistake. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* Each key is handled by a parser that gets the value, the address to store it at (the table's
 * base plus offset) and the key's path for messages ("timeouts.download", "modems[1].port"). A
 * parser that refuses a value returns -EINVAL and, in *reterr, a message starting with that path. */
typedef int (*ConfigParser)(json_object *v, const char *key_path, void *data, char **reterr);

typedef struct ConfigKey {
        const char *key;
        ConfigParser parse;
        size_t offset;
} ConfigKey;

static char **strv_free(char **l) {
        if (l)
                for (char **i = l; *i; i++)
                        free(*i);
        free(l);
        return NULL;
}

#define config_error(reterr, prefix, ...) reason_set(reterr, -EINVAL, prefix, __VA_ARGS__)

/* json-c accepts strings with "\u0000" in them; our C strings would silently end there. */
static int config_get_string(json_object *v, const char *key_path, const char **ret, char **reterr) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return config_error(reterr, key_path, "must be a string");

        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return config_error(reterr, key_path, "must not contain NUL characters");

        *ret = s;
        return 0;
}

static int config_parse_table(
                json_object *o,
                const char *key_path,
                const ConfigKey *table,
                size_t n_table,
                void *base,
                char **reterr);

static int read_full_file(const char *path, char **ret, size_t *ret_size);

static int config_parse_path(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] != '/')
                return config_error(reterr, key_path, "must be an absolute path, not \"%s\"", s);

        return free_and_strdup(data, s);
}

static int config_parse_log_level(json_object *v, const char *key_path, void *data, char **reterr) {
        int *level = data;
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = log_level_from_string(s);
        if (r < 0)
                return config_error(reterr, key_path,
                                    "unknown log level \"%s\" (debug, info, notice, warning, err, crit, alert, emerg)", s);

        *level = r;
        return 0;
}

static int config_parse_bool(json_object *v, const char *key_path, void *data, char **reterr) {
        bool *b = data;

        if (!json_object_is_type(v, json_type_boolean))
                return config_error(reterr, key_path, "must be true or false");

        *b = json_object_get_boolean(v);
        return 0;
}

static int config_parse_sec(json_object *v, const char *key_path, void *data, char **reterr) {
        usec_t *usec = data;
        double sec;

        /* Integers are taken as integers: a double cannot hold every int64, and "5" must give
         * exactly 5 s. */
        if (json_object_is_type(v, json_type_int)) {
                int64_t i = json_object_get_int64(v);

                if (i <= 0)
                        return config_error(reterr, key_path, "must be a number of seconds > 0");
                if (i > TIMEOUT_MAX_SEC)
                        return config_error(reterr, key_path, "must be at most %i seconds", TIMEOUT_MAX_SEC);

                *usec = (usec_t) i * USEC_PER_SEC;
                return 0;
        }

        if (!json_object_is_type(v, json_type_double))
                return config_error(reterr, key_path, "must be a number of seconds > 0");

        sec = json_object_get_double(v);
        if (!(sec > 0)) /* also NaN */
                return config_error(reterr, key_path, "must be a number of seconds > 0");
        if (sec > TIMEOUT_MAX_SEC)
                return config_error(reterr, key_path, "must be at most %i seconds", TIMEOUT_MAX_SEC);

        /* Rounded, so that 0.05 (50000.000000000007 µs in binary) gives 50000. */
        *usec = (usec_t) (sec * (double) USEC_PER_SEC + 0.5);
        if (*usec == 0)
                return config_error(reterr, key_path, "must be at least one microsecond");

        return 0;
}

static char *known_families(void) {
        const char *sep = "";
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        for (ModemFamily i = 0; i < _MODEM_FAMILY_MAX; i++)
                if (i != MODEM_FAMILY_GENERIC) {
                        fprintf(f, "%s%s", sep, modem_family_to_string(i));
                        sep = ", ";
                }

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int config_parse_family(json_object *v, const char *key_path, void *data, char **reterr) {
        _cleanup_free_ char *known = NULL;
        ModemFamily *family = data, f;
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        f = modem_family_from_string(s);
        if (f >= 0 && f != MODEM_FAMILY_GENERIC) {
                *family = f;
                return 0;
        }

        known = known_families();
        if (!known)
                return -ENOMEM;

        /* "generic" is what an unrecognised module runs with; choosing it for a known port would
         * only throw away the family's limits and error tables. Leave "family" out instead. */
        if (f == MODEM_FAMILY_GENERIC)
                return config_error(reterr, key_path,
                                    "\"generic\" is the fallback for unrecognised modules, not a family to choose; "
                                    "leave \"family\" out to detect it (known: %s)", known);

        return config_error(reterr, key_path, "unknown family \"%s\" (known: %s)", s, known);
}

/* ---- modems[].pdp: the PDP context of a UC20/UC15 (UMTS/HSPA DFOTA User Guide ch. 3) ---------- */

/* AT+QICSGP's <authentication> (the guide's §3.1 example: AT+QICSGP=1,1,"UNINET","","",1). */
static const char *const pdp_auth_table[] = {
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

/* Secrets do not outlive their use in freed heap memory. */
static char *secret_free(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
        return NULL;
}

PdpConfig *pdp_config_free(PdpConfig *p) {
        if (!p)
                return NULL;

        free(p->apn);
        free(p->username);
        secret_free(p->password);
        free(p->password_file);
        free(p);
        return NULL;
}

/* The strings go between '"' into AT+QICSGP=<cid>,1,"<apn>","<username>","<password>",<auth>:
 * printable ASCII (space included) without '"', which would end the string and let the rest of
 * the value become AT command text. secret: say where, but not what the character is. */
static int pdp_check_chars(const char *s, const char *key_path, bool secret, const char *what, char **reterr) {
        for (size_t i = 0; s[i]; i++) {
                if (s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"')
                        continue;

                if (secret)
                        return config_error(reterr, key_path,
                                            "%s has a character that is not printable ASCII, or a '\"', at offset %zu",
                                            what, i);
                if (s[i] == '"')
                        return config_error(reterr, key_path, "must not contain '\"'");
                return config_error(reterr, key_path, "contains byte 0x%02x at offset %zu (printable ASCII only)",
                                    (unsigned) (unsigned char) s[i], i);
        }

        return 0;
}

static int pdp_parse_string(json_object *v, const char *key_path, char **ret, size_t max, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        if (isempty(s))
                return config_error(reterr, key_path, "must not be empty");
        if (strlen(s) > max)
                return config_error(reterr, key_path, "must be at most %zu bytes", max);

        r = pdp_check_chars(s, key_path, /* secret= */ false, NULL, reterr);
        if (r < 0)
                return r;

        return free_and_strdup(ret, s);
}

static int config_parse_pdp_cid(json_object *v, const char *key_path, void *data, char **reterr) {
        unsigned *cid = data;
        int64_t i;

        /* AT+QICSGP <contextID> (see PDP_CID_MIN/MAX); the DFOTA guide's default is 1. */
        if (!json_object_is_type(v, json_type_int))
                return config_error(reterr, key_path, "must be an integer %i..%i", PDP_CID_MIN, PDP_CID_MAX);

        i = json_object_get_int64(v);
        if (i < PDP_CID_MIN || i > PDP_CID_MAX)
                return config_error(reterr, key_path, "must be an integer %i..%i", PDP_CID_MIN, PDP_CID_MAX);

        *cid = (unsigned) i;
        return 0;
}

static int config_parse_pdp_apn(json_object *v, const char *key_path, void *data, char **reterr) {
        return pdp_parse_string(v, key_path, data, PDP_APN_MAX, reterr);
}

static int config_parse_pdp_username(json_object *v, const char *key_path, void *data, char **reterr) {
        return pdp_parse_string(v, key_path, data, PDP_CREDENTIAL_MAX, reterr);
}

static int config_parse_pdp_auth(json_object *v, const char *key_path, void *data, char **reterr) {
        unsigned *auth = data;
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = pdp_auth_from_string(s);
        if (r < 0)
                return config_error(reterr, key_path, "must be \"none\", \"pap\", \"chap\" or \"pap-or-chap\", not \"%s\"", s);

        *auth = (unsigned) r;
        return 0;
}

/* A password in the config text would end up in backups, drop-in listings and bug reports
 * (../shared/product.md "Secrets ... are read from files, and from systemd credentials, never from
 * the command line"): say where it goes instead of "unknown key". */
static int config_parse_pdp_password(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_error(reterr, key_path,
                            "passwords are not taken from the configuration; put it in a file and name the file, "
                            "or a systemd credential, in \"password_file\"");
}

/* Reads the password: an absolute path, or, when the service runs with credentials
 * ($CREDENTIALS_DIRECTORY, systemd LoadCredential=/SetCredential=) and the value has no '/', the
 * credential of that name. One trailing newline ("\n" or "\r\n") is stripped: editors and
 * "echo secret > file" add it, and it is never part of a password. */
static int config_parse_pdp_password_file(json_object *v, const char *key_path, void *data, char **reterr) {
        PdpConfig *pdp = data;
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *s, *creds;
        size_t size = 0, n;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        creds = getenv("CREDENTIALS_DIRECTORY");
        r = 0;
        if (s[0] == '/')
                path = strdup(s);
        else if (!isempty(creds) && !isempty(s) && !strchr(s, '/') && !streq(s, ".") && !streq(s, ".."))
                r = asprintf(&path, "%s/%s", creds, s);
        else if (!isempty(creds))
                return config_error(reterr, key_path,
                                    "must be an absolute path or the name of a systemd credential, not \"%s\"", s);
        else
                return config_error(reterr, key_path,
                                    "must be an absolute path, not \"%s\" (a credential name needs $CREDENTIALS_DIRECTORY)", s);
        if (r < 0 || !path)
                return -ENOMEM;

        r = read_full_file(path, &text, &size);
        if (r == -EFBIG)
                return reason_set(reterr, r, key_path, "cannot read %s: larger than %i bytes", path, CONFIG_FILE_MAX);
        if (r < 0)
                return reason_set(reterr, r, key_path, "cannot read %s: %s", path, strerror(-r));

        /* From here on text is a secret. */
        n = strlen(text);
        if (n != size) {
                explicit_bzero(text, size);
                return config_error(reterr, key_path, "the password in %s contains a NUL byte", path);
        }
        if (n > 0 && text[n - 1] == '\n')
                text[--n] = '\0';
        if (n > 0 && text[n - 1] == '\r')
                text[--n] = '\0';

        r = 0;
        if (n > PDP_CREDENTIAL_MAX)
                r = config_error(reterr, key_path, "the password in %s is longer than %i bytes", path, PDP_CREDENTIAL_MAX);
        else if (strchr(text, '\n'))
                r = config_error(reterr, key_path, "the password in %s has more than one line", path);
        if (r >= 0) {
                _cleanup_free_ char *what = NULL;

                if (asprintf(&what, "the password in %s", path) < 0)
                        r = -ENOMEM;
                else
                        r = pdp_check_chars(text, key_path, /* secret= */ true, what, reterr);
        }
        if (r < 0) {
                explicit_bzero(text, size);
                return r;
        }

        secret_free(pdp->password);
        pdp->password = TAKE_PTR(text);
        free(pdp->password_file);
        pdp->password_file = TAKE_PTR(path);
        return 0;
}

static const ConfigKey pdp_keys[] = {
        { "cid",           config_parse_pdp_cid,           offsetof(PdpConfig, cid)      },
        { "apn",           config_parse_pdp_apn,           offsetof(PdpConfig, apn)      },
        { "username",      config_parse_pdp_username,      offsetof(PdpConfig, username) },
        { "password_file", config_parse_pdp_password_file, 0                             },
        { "password",      config_parse_pdp_password,      0                             },
        { "auth",          config_parse_pdp_auth,          offsetof(PdpConfig, auth)     },
};

static int config_parse_pdp(json_object *v, const char *key_path, void *data, char **reterr) {
        PdpConfig **ret = data;
        _cleanup_(pdp_config_freep) PdpConfig *pdp = NULL;
        int r;

        pdp = calloc(1, sizeof(PdpConfig));
        if (!pdp)
                return -ENOMEM;
        /* UMTS/HSPA DFOTA User Guide ch. 3: "The default PDP context ID is 1". auth 0: none. */
        pdp->cid = 1;

        r = config_parse_table(v, key_path, pdp_keys, ELEMENTSOF(pdp_keys), pdp, reterr);
        if (r < 0)
                return r;

        if (!pdp->apn)
                return config_error(reterr, key_path, "\"apn\" is required");

        pdp_config_free(*ret);
        *ret = TAKE_PTR(pdp);
        return 0;
}

static const ConfigKey modem_keys[] = {
        { "port",   config_parse_path,   offsetof(ModemConfig, port)   },
        { "family", config_parse_family, offsetof(ModemConfig, family) },
        { "pdp",    config_parse_pdp,    offsetof(ModemConfig, pdp)    },
};

static void modem_config_free_many(ModemConfig *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].port);
                pdp_config_free(m[i].pdp);
        }
        free(m);
}

static int config_parse_modems(json_object *v, const char *key_path, void *data, char **reterr) {
        Config *c = data;
        ModemConfig *modems;
        size_t n;
        int r = 0;

        if (!json_object_is_type(v, json_type_array))
                return config_error(reterr, key_path, "must be an array of {\"port\": ..., \"family\": ...}");

        n = json_object_array_length(v);
        modems = calloc(n ?: 1, sizeof(ModemConfig));
        if (!modems)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s[%zu]", key_path, i) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }

                modems[i].family = _MODEM_FAMILY_INVALID;

                r = config_parse_table(json_object_array_get_idx(v, i), p, modem_keys, ELEMENTSOF(modem_keys), &modems[i], reterr);
                if (r < 0)
                        goto fail;

                if (!modems[i].port) {
                        r = config_error(reterr, p, "\"port\" is required");
                        goto fail;
                }

                /* A pdp for a family that sets none up would be silently unused; without "family"
                 * the module decides when it is identified. */
                if (modems[i].pdp && modems[i].family >= 0 &&
                    !modem_profile_get(modems[i].family)->needs_pdp_context) {
                        r = config_error(reterr, p, "\"pdp\" is not used by family \"%s\" (only by families that "
                                         "set up a PDP context for the download, such as ucxx)",
                                         modem_family_to_string(modems[i].family));
                        goto fail;
                }

                for (size_t j = 0; j < i; j++)
                        if (streq(modems[j].port, modems[i].port)) {
                                r = config_error(reterr, p, "port \"%s\" is already listed as %s[%zu]",
                                                 modems[i].port, key_path, j);
                                goto fail;
                        }
        }

        /* Arrays are replaced as a whole, also by a drop-in. */
        modem_config_free_many(c->modems, c->n_modems);
        c->modems = modems;
        c->n_modems = n;
        return 0;

fail:
        modem_config_free_many(modems, n);
        return r;
}

static const ConfigKey timeout_keys[] = {
        { "at_command",             config_parse_sec, offsetof(Timeouts, at_command)             },
        { "download_start",         config_parse_sec, offsetof(Timeouts, download_start)         },
        { "download",               config_parse_sec, offsetof(Timeouts, download)               },
        { "port_return",            config_parse_sec, offsetof(Timeouts, port_return)            },
        { "first_urc_after_reboot", config_parse_sec, offsetof(Timeouts, first_urc_after_reboot) },
        { "urc_watchdog",           config_parse_sec, offsetof(Timeouts, urc_watchdog)           },
        { "verify",                 config_parse_sec, offsetof(Timeouts, verify)                 },
};

static int config_parse_timeouts(json_object *v, const char *key_path, void *data, char **reterr) {
        /* Key by key: a drop-in that sets one timeout keeps the others. */
        return config_parse_table(v, key_path, timeout_keys, ELEMENTSOF(timeout_keys), data, reterr);
}

static int config_parse_argv(json_object *v, const char *key_path, void *data, char **reterr) {
        char ***argv = data;
        char **l;
        size_t n;
        int r = 0;

        if (!json_object_is_type(v, json_type_array))
                return config_error(reterr, key_path, "must be an array of strings, the program and its arguments");

        n = json_object_array_length(v);
        if (n == 0)
                return config_error(reterr, key_path, "must not be empty");

        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                const char *s;

                if (asprintf(&p, "%s[%zu]", key_path, i) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }

                r = config_get_string(json_object_array_get_idx(v, i), p, &s, reterr);
                if (r < 0)
                        goto fail;

                if (isempty(s)) {
                        r = config_error(reterr, p, "must be a non-empty string");
                        goto fail;
                }

                /* The command runs without a shell and outside any $PATH the service may have. */
                if (i == 0 && s[0] != '/') {
                        r = config_error(reterr, p, "must be an absolute path, not \"%s\"", s);
                        goto fail;
                }

                l[i] = strdup(s);
                if (!l[i]) {
                        r = -ENOMEM;
                        goto fail;
                }
        }

        strv_free(*argv);
        *argv = l;
        return 0;

fail:
        strv_free(l);
        return r;
}

static const ConfigKey reset_keys[] = {
        { "command", config_parse_argv, offsetof(Config, reset_command) },
};

static int config_parse_reset(json_object *v, const char *key_path, void *data, char **reterr) {
        Config *c = data;
        int r;

        if (json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), reset_method_to_string(RESET_METHOD_AT))) {
                c->reset_method = RESET_METHOD_AT;
                c->reset_command = strv_free(c->reset_command);
                return 0;
        }

        if (!json_object_is_type(v, json_type_object))
                return config_error(reterr, key_path, "must be \"at\" or {\"command\": [\"/path/to/program\", ...]}");

        /* The object replaces an earlier "reset" as a whole. */
        c->reset_command = strv_free(c->reset_command);

        r = config_parse_table(v, key_path, reset_keys, ELEMENTSOF(reset_keys), c, reterr);
        if (r < 0)
                return r;

        if (!c->reset_command)
                return config_error(reterr, key_path, "\"command\" is required");

        c->reset_method = RESET_METHOD_COMMAND;
        return 0;
}

static const ConfigKey local_keys[] = {
        { "inbox", config_parse_path, offsetof(Config, inbox) },
};

static int config_parse_local(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_table(v, key_path, local_keys, ELEMENTSOF(local_keys), data, reterr);
}

static const ConfigKey config_keys[] = {
        { "state_directory", config_parse_path,      offsetof(Config, state_directory) },
        { "log_level",       config_parse_log_level, offsetof(Config, log_level)       },
        { "modems",          config_parse_modems,    0                                 },
        { "timeouts",        config_parse_timeouts,  offsetof(Config, timeouts)        },
        { "reset",           config_parse_reset,     0                                 },
        { "local",           config_parse_local,     0                                 },
        { "hotplug",         config_parse_bool,      offsetof(Config, hotplug)         },
};

/* key_path is NULL for the top level. */
static int config_parse_table(
                json_object *o,
                const char *key_path,
                const ConfigKey *table,
                size_t n_table,
                void *base,
                char **reterr) {

        if (!json_object_is_type(o, json_type_object))
                return config_error(reterr, key_path, key_path ? "must be an object" : "must be a JSON object");

        json_object_object_foreach(o, key, v) {
                _cleanup_free_ char *p = NULL;
                const ConfigKey *k = NULL;
                int r;

                for (size_t i = 0; i < n_table && !k; i++)
                        if (streq(table[i].key, key))
                                k = &table[i];
                if (!k)
                        return config_error(reterr, key_path, "unknown key \"%s\"", key);

                if (key_path ? asprintf(&p, "%s.%s", key_path, key) < 0 : !(p = strdup(key)))
                        return -ENOMEM;

                r = k->parse(v, p, (uint8_t *) base + k->offset, reterr);
                if (r < 0)
                        return r;
        }

        return 0;
}

static int read_full_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t k;

                if (allocated - size < 2) {
                        size_t a = allocated ? allocated * 2 : 4096;
                        char *b;

                        if (a > CONFIG_FILE_MAX + 1)
                                return -EFBIG;

                        b = realloc(buf, a);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }

                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }

        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int config_parse_json(const char *text, size_t size, json_object **ret, char **reterr) {
        return json_parse_strict(text, size, NULL, ret, reterr);
}

static int config_apply_file(Config *c, const char *path, bool missing_ok, char **reterr) {
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_object *o = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(path, &text, &size);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r == -EFBIG)
                return reason_set(reterr, r, path, "larger than %i bytes", CONFIG_FILE_MAX);
        if (r < 0)
                return reason_set(reterr, r, path, "%s", strerror(-r));

        r = config_parse_json(text, size, &o, &err);
        if (r >= 0) {
                r = config_parse_table(o, NULL, config_keys, ELEMENTSOF(config_keys), c, &err);
                json_object_put(o);
        }
        if (r < 0)
                return err ? reason_set(reterr, r, path, "%s", err) : r;

        log_debug("Loaded configuration from %s.", path);
        return 0;
}

static int dropin_filter(const struct dirent *de) {
        const char *suffix = strrchr(de->d_name, '.');

        /* Hidden files are editors' and package managers' temporary files. */
        return de->d_name[0] != '.' && suffix && streq(suffix, ".json");
}

/* The documented order is byte order, independent of the locale (alphasort() uses strcoll()). */
static int dropin_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static void dirent_free_many(struct dirent **l, int n) {
        for (int i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

static int config_apply_dropins(Config *c, const char *path, char **reterr) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **names = NULL;
        int n, r = 0;

        if (asprintf(&dir, "%s.d", path) < 0)
                return -ENOMEM;

        n = scandir(dir, &names, dropin_filter, dropin_compare);
        if (n < 0) {
                r = -errno;
                if (r == -ENOENT)
                        return 0;
                return reason_set(reterr, r, dir, "%s", strerror(-r));
        }

        for (int i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, names[i]->d_name) < 0)
                        r = -ENOMEM;
                else
                        r = config_apply_file(c, p, /* missing_ok= */ true, reterr);
        }

        dirent_free_many(names, n);
        return r;
}

static int config_fill_defaults(Config *c) {
        const char *e = getenv("STATE_DIRECTORY");
        size_t n;

        *c = (Config) {
                .log_level = LOG_INFO,
                .timeouts = {
                        .at_command             =    5 * USEC_PER_SEC,
                        .download_start         =   90 * USEC_PER_SEC,
                        .download               = 1800 * USEC_PER_SEC,
                        .port_return            =  300 * USEC_PER_SEC,
                        .first_urc_after_reboot =   90 * USEC_PER_SEC,
                        .urc_watchdog           =  240 * USEC_PER_SEC,
                        .verify                 =  300 * USEC_PER_SEC,
                },
                .reset_method = RESET_METHOD_AT,
                .hotplug = true,
        };

        /* systemd joins several StateDirectory= entries with ':'; the first is ours. */
        n = e ? strcspn(e, ":") : 0;
        c->state_directory = n > 0 ? strndup(e, n) : strdup(CONFIG_DEFAULT_STATE_DIRECTORY);
        if (!c->state_directory)
                return -ENOMEM;

        return 0;
}

/* Defaults that depend on other keys, computed once every file has been read. */
static int config_finish(Config *c) {
        if (!c->inbox && asprintf(&c->inbox, "%s/inbox", c->state_directory) < 0) {
                c->inbox = NULL;
                return -ENOMEM;
        }

        return 0;
}

static void config_done(Config *c) {
        free(c->state_directory);
        modem_config_free_many(c->modems, c->n_modems);
        strv_free(c->reset_command);
        free(c->inbox);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;

        config_done(c);
        free(c);
        return NULL;
}

int config_init_defaults(Config *c) {
        Config tmp;
        int r;

        r = config_fill_defaults(&tmp);
        if (r >= 0)
                r = config_finish(&tmp);
        if (r < 0) {
                config_done(&tmp);
                return r;
        }

        *c = tmp;
        return 0;
}

int config_load(const char *path, bool path_explicit, Config **ret, char **reterr) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        if (!path)
                path = CONFIG_DEFAULT_PATH;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;

        r = config_fill_defaults(c);
        if (r >= 0)
                r = config_apply_file(c, path, /* missing_ok= */ !path_explicit, &err);
        if (r >= 0)
                r = config_apply_dropins(c, path, &err);
        if (r >= 0)
                r = config_finish(c);
        if (r < 0) {
                if (reterr)
                        *reterr = TAKE_PTR(err);
                return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}
