/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <json-c/json.h>
#include <mosquitto.h>

#include "config.h"
#include "escape.h"
#include "fileio.h"
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

/* A config file is a few hundred bytes; the cap only stops us reading a huge file given by
 * mistake. Password files are read with the same cap, so that one a little too long gets its own
 * message. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* "records.max_age_days": a hundred years is "keep them"; "records.max_count": a million records
 * of a few kilobytes each is already more than a gateway's state directory should hold. */
#define RECORDS_MAX_AGE_DAYS_MAX 36500
#define RECORDS_MAX_COUNT_MAX 1000000

/* Each key is handled by a parser that gets the value, the address to store it at (the table's
 * base plus offset) and the key's path for messages ("timeouts.download", "modems[1].port"). A
 * parser that refuses a value returns -EINVAL and, in *reterr, a message starting with that path. */


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

/* The names of a string table, "a", "b" or "c" (values 0..max-1 that have one; except: a value
 * to leave out, or -1), newly allocated; NULL on allocation failure. */
static char *enum_names(const char *(*to_string)(int), int max, int except) {
        const char *last = NULL;
        char *buf = NULL;
        size_t size = 0, n = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        /* Written one behind, so that the last one gets "or" instead of a comma. */
        for (int i = 0; i < max; i++) {
                const char *name = i == except ? NULL : to_string(i);

                if (!name)
                        continue;
                if (last)
                        fprintf(f, "%s\"%s\"", n++ > 0 ? ", " : "", last);
                last = name;
        }
        if (last)
                fprintf(f, "%s\"%s\"", n > 0 ? " or " : "", last);

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* The one parser of a string that names a value of one of our enums: from_string() maps it (a
 * negative errno when unknown), to_string() over 0..max-1 lists the choices in the error; except
 * (or -1) is a value the table has but the key refuses, with except_reason as its message. Writes
 * *ret only on success. Returns 0, -EINVAL with the key named in *reterr, or -ENOMEM. */
static int config_parse_enum(
                json_object *v,
                const char *key_path,
                int (*from_string)(const char *),
                const char *(*to_string)(int),
                int max,
                int except,
                const char *except_reason,
                int *ret,
                char **reterr) {

        _cleanup_free_ char *names = NULL;
        const char *s;
        int r, e;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        e = from_string(s);
        if (e >= 0 && e != except) {
                *ret = e;
                return 0;
        }

        names = enum_names(to_string, max, except);
        if (!names)
                return -ENOMEM;
        if (e >= 0 && except_reason)
                return config_error(reterr, key_path, "%s (choose %s)", except_reason, names);
        return config_error(reterr, key_path, "must be %s, not \"%s\"", names, s);
}

static int config_parse_log_level(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_enum(v, key_path, log_level_from_string, log_level_to_string, LOG_DEBUG + 1,
                                 -1, NULL, data, reterr);
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


static int modem_family_from_name(const char *s) {
        return modem_family_from_string(s);
}

static const char *modem_family_name(int f) {
        return modem_family_to_string(f);
}

static int config_parse_family(json_object *v, const char *key_path, void *data, char **reterr) {
        int f, r;

        /* "generic" is what an unrecognised module runs with; choosing it for a known port would
         * only throw away the family's limits and error tables. Leave "family" out instead. */
        r = config_parse_enum(v, key_path, modem_family_from_name, modem_family_name, _MODEM_FAMILY_MAX,
                              MODEM_FAMILY_GENERIC,
                              "\"generic\" is the fallback for unrecognised modules, not a family to choose; "
                              "leave \"family\" out to detect it",
                              &f, reterr);
        if (r < 0)
                return r;
        *(ModemFamily *) data = f;
        return 0;
}

/* ---- Secrets: passwords and private keys, read from files or systemd credentials ---------------- */

/* A password in the config text would end up in backups, drop-in listings and bug reports
 * (../shared/product.md "Secrets ... are read from files, and from systemd credentials, never from
 * the command line"): say where it goes instead of "unknown key". */
static int config_parse_password_refused(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_error(reterr, key_path,
                            "passwords are not taken from the configuration; put it in a file and name the file, "
                            "or a systemd credential, in \"password_file\"");
}

/* Where a secret is read from: an absolute path, or, when the service runs with credentials
 * ($CREDENTIALS_DIRECTORY, systemd LoadCredential=/SetCredential=) and the value has no '/', the
 * credential of that name. Returns the path in *ret. */
static int config_resolve_credential(const char *s, const char *key_path, char **ret, char **reterr) {
        const char *creds = getenv("CREDENTIALS_DIRECTORY");
        char *path;

        if (s[0] == '/')
                path = strdup(s);
        else if (!isempty(creds) && !isempty(s) && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..")) {
                if (asprintf(&path, "%s/%s", creds, s) < 0)
                        path = NULL;
        } else if (!isempty(creds))
                return config_error(reterr, key_path,
                                    "must be an absolute path or the name of a systemd credential, not \"%s\"", s);
        else
                return config_error(reterr, key_path,
                                    "must be an absolute path, not \"%s\" (a credential name needs $CREDENTIALS_DIRECTORY)", s);
        if (!path)
                return -ENOMEM;

        *ret = path;
        return 0;
}

/* Checks a password's characters; what is "the password in <path>", for messages that must not
 * quote it. */
typedef int (*SecretCheck)(const char *secret, const char *key_path, const char *what, char **reterr);

/* Reads the password from the file or credential a "password_file" key names
 * (config_resolve_credential()). One trailing newline ("\n" or "\r\n") is stripped: editors and
 * "echo secret > file" add it, and it is never part of a password. From the moment it is read the
 * text is a secret: messages name the file, never the content, and every copy is wiped. On success
 * replaces *password and *password_file (the resolved path, for messages). */
static int config_parse_password_file(
                json_object *v,
                const char *key_path,
                bool allow_empty,
                size_t max,
                SecretCheck check,
                char **password,
                char **password_file,
                char **reterr) {

        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *s;
        size_t size = 0, n;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = config_resolve_credential(s, key_path, &path, reterr);
        if (r < 0)
                return r;

        /* Never blocks: a FIFO in place of the file would otherwise hang start-up. */
        r = read_file_bounded(AT_FDCWD, path, CONFIG_FILE_MAX, 0, &text, &size);
        if (IN_SET(r, -EFBIG, -EBADFD)) {
                char buf[64];

                return reason_set(reterr, r, key_path, "%s %s", path, read_error_to_string(r, CONFIG_FILE_MAX, buf));
        }
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
        if (n > max)
                r = config_error(reterr, key_path, "the password in %s is longer than %zu bytes", path, max);
        else if (n == 0 && !allow_empty)
                r = config_error(reterr, key_path, "the password in %s is empty", path);
        else if (strchr(text, '\n'))
                r = config_error(reterr, key_path, "the password in %s has more than one line", path);
        else if (check) {
                _cleanup_free_ char *what = NULL;

                if (asprintf(&what, "the password in %s", path) < 0)
                        r = -ENOMEM;
                else
                        r = check(text, key_path, what, reterr);
        }
        if (r < 0) {
                explicit_bzero(text, size);
                return r;
        }

        erase_and_free(*password);
        *password = TAKE_PTR(text);
        free(*password_file);
        *password_file = TAKE_PTR(path);
        return 0;
}

/* ---- modems[].pdp: the PDP context of a UC20/UC15 (UMTS/HSPA DFOTA User Guide ch. 3) ---------- */


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

static int config_parse_uint(json_object *v, const char *key_path, unsigned min, unsigned max, unsigned *ret, char **reterr) {
        int64_t i;

        if (!json_object_is_type(v, json_type_int))
                return config_error(reterr, key_path, "must be an integer %u..%u", min, max);

        i = json_object_get_int64(v);
        if (i < min || i > max)
                return config_error(reterr, key_path, "must be an integer %u..%u", min, max);

        *ret = (unsigned) i;
        return 0;
}

static int config_parse_pdp_cid(json_object *v, const char *key_path, void *data, char **reterr) {
        /* AT+QICSGP <contextID> (see PDP_CID_MIN/MAX); the DFOTA guide's default is 1. */
        return config_parse_uint(v, key_path, PDP_CID_MIN, PDP_CID_MAX, data, reterr);
}

static int config_parse_pdp_apn(json_object *v, const char *key_path, void *data, char **reterr) {
        return pdp_parse_string(v, key_path, data, PDP_APN_MAX, reterr);
}

static int config_parse_pdp_username(json_object *v, const char *key_path, void *data, char **reterr) {
        return pdp_parse_string(v, key_path, data, PDP_CREDENTIAL_MAX, reterr);
}

static const char *pdp_auth_name(int auth) {
        return auth >= 0 ? pdp_auth_to_string((unsigned) auth) : NULL;
}

static int config_parse_pdp_auth(json_object *v, const char *key_path, void *data, char **reterr) {
        int auth, r;

        r = config_parse_enum(v, key_path, pdp_auth_from_string, pdp_auth_name, (int) PDP_AUTH_COUNT,
                              -1, NULL, &auth, reterr);
        if (r < 0)
                return r;
        *(unsigned *) data = (unsigned) auth;
        return 0;
}

static int pdp_check_secret(const char *s, const char *key_path, const char *what, char **reterr) {
        return pdp_check_chars(s, key_path, /* secret= */ true, what, reterr);
}

/* An empty file is an empty password: AT+QICSGP takes "" for none. */
static int config_parse_pdp_password_file(json_object *v, const char *key_path, void *data, char **reterr) {
        PdpConfig *pdp = data;

        return config_parse_password_file(v, key_path, /* allow_empty= */ true, PDP_CREDENTIAL_MAX, pdp_check_secret,
                                          &pdp->password, &pdp->password_file, reterr);
}

static const JsonField pdp_keys[] = {
        { "cid",           config_parse_pdp_cid,           offsetof(PdpConfig, cid)      },
        { "apn",           config_parse_pdp_apn,           offsetof(PdpConfig, apn)      },
        { "username",      config_parse_pdp_username,      offsetof(PdpConfig, username) },
        { "password_file", config_parse_pdp_password_file, 0                             },
        { "password",      config_parse_password_refused,  0                             },
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

        r = json_dispatch_table(v, key_path, pdp_keys, ELEMENTSOF(pdp_keys), JSON_DISPATCH_CALLER_ESCAPES, pdp, reterr);
        if (r < 0)
                return r;

        if (!pdp->apn)
                return config_error(reterr, key_path, "\"apn\" is required");

        pdp_config_free(*ret);
        *ret = TAKE_PTR(pdp);
        return 0;
}

static int config_parse_imei(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;
        if (!imei_is_valid(s))
                return config_error(reterr, key_path, "must be 15 digits (the module's AT+GSN)");
        return free_and_strdup(data, s);
}

/* A USB device's path on the bus as the kernel names it ("1-1.2": bus, then the hub ports; dmesg,
 * lsusb -t and dfotad's log show it so): digits, one '-', then digits separated by '.'. */
static bool usb_path_is_valid(const char *s) {
        const char *p = s + strspn(s, "0123456789");

        if (p == s || *p != '-' || strlen(s) > 64)
                return false;
        for (p++;; p++) {
                size_t n = strspn(p, "0123456789");

                if (n == 0)
                        return false;
                p += n;
                if (*p == '\0')
                        return true;
                if (*p != '.')
                        return false;
        }
}

static int config_parse_usb_path(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;
        if (!usb_path_is_valid(s))
                return config_error(reterr, key_path, "must be a USB path such as \"1-1.2\" (as dmesg and lsusb -t show it)");
        return free_and_strdup(data, s);
}

static const JsonField modem_keys[] = {
        { "port",     config_parse_path,     offsetof(ModemConfig, port)     },
        { "imei",     config_parse_imei,     offsetof(ModemConfig, imei)     },
        { "usb_path", config_parse_usb_path, offsetof(ModemConfig, usb_path) },
        { "family", config_parse_family, offsetof(ModemConfig, family) },
        { "pdp",    config_parse_pdp,    offsetof(ModemConfig, pdp)    },
};

static void modem_config_free_many(ModemConfig *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].port);
                free(m[i].imei);
                free(m[i].usb_path);
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
                return config_error(reterr, key_path, "must be an array of {\"port\" | \"imei\" | \"usb_path\": ..., \"family\": ...}");

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

                r = json_dispatch_table(json_object_array_get_idx(v, i), p, modem_keys, ELEMENTSOF(modem_keys), JSON_DISPATCH_CALLER_ESCAPES, &modems[i], reterr);
                if (r < 0)
                        goto fail;

                /* One way to name the module: a port (served as a static port), or a module found
                 * through udev by its IMEI or its USB path. */
                if (!!modems[i].port + !!modems[i].imei + !!modems[i].usb_path != 1) {
                        r = config_error(reterr, p, "needs exactly one of \"port\", \"imei\" or \"usb_path\"");
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
                        if ((modems[i].port && streq_ptr(modems[j].port, modems[i].port)) ||
                            (modems[i].imei && streq_ptr(modems[j].imei, modems[i].imei)) ||
                            (modems[i].usb_path && streq_ptr(modems[j].usb_path, modems[i].usb_path))) {
                                r = config_error(reterr, p, "%s \"%s\" is already listed as %s[%zu]",
                                                 modems[i].port ? "port" : modems[i].imei ? "imei" : "usb_path",
                                                 modems[i].port ?: modems[i].imei ?: modems[i].usb_path, key_path, j);
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

static const JsonField timeout_keys[] = {
        { "at_command",             config_parse_sec, offsetof(Timeouts, at_command)             },
        { "download_start",         config_parse_sec, offsetof(Timeouts, download_start)         },
        { "download",               config_parse_sec, offsetof(Timeouts, download)               },
        { "port_return",            config_parse_sec, offsetof(Timeouts, port_return)            },
        { "first_urc_after_reboot", config_parse_sec, offsetof(Timeouts, first_urc_after_reboot) },
        { "urc_watchdog",           config_parse_sec, offsetof(Timeouts, urc_watchdog)           },
        { "verify",                 config_parse_sec, offsetof(Timeouts, verify)                 },
        { "state_write_retry",      config_parse_sec, offsetof(Timeouts, state_write_retry)      },
};

static int config_parse_timeouts(json_object *v, const char *key_path, void *data, char **reterr) {
        /* Key by key: a drop-in that sets one timeout keeps the others. */
        return json_dispatch_table(v, key_path, timeout_keys, ELEMENTSOF(timeout_keys), JSON_DISPATCH_CALLER_ESCAPES, data, reterr);
}

/* The program of an argv, checked at load time: the watchdog needs it when a module has stopped
 * answering, which is the worst moment to find out that it was mistyped. access() is asked about
 * our own identity, which is what posix_spawn() will run with. */
static int config_check_executable(const char *path, const char *key_path, char **reterr) {
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                r = -errno;
                if (IN_SET(r, -ENOENT, -ENOTDIR))
                        return reason_set(reterr, -ENOENT, key_path, "%s does not exist", path);
                return reason_set(reterr, r, key_path, "cannot check %s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return reason_set(reterr, S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD, key_path,
                                  "%s is not a regular file", path);
        if (access(path, X_OK) < 0) {
                r = -errno;
                return reason_set(reterr, r, key_path, "%s is not executable", path);
        }

        return 0;
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
                if (i == 0) {
                        r = config_check_executable(s, p, reterr);
                        if (r < 0)
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

static const JsonField reset_keys[] = {
        { "command",      config_parse_argv, offsetof(Config, reset.command)      },
        { "try_at_first", config_parse_bool, offsetof(Config, reset.try_at_first) },
};

static int config_parse_reset(json_object *v, const char *key_path, void *data, char **reterr) {
        Config *c = data;
        int r;

        if (json_object_is_type(v, json_type_string) && streq(json_object_get_string(v), reset_method_to_string(RESET_METHOD_AT))) {
                c->reset.method = RESET_METHOD_AT;
                c->reset.command = strv_free(c->reset.command);
                c->reset.try_at_first = false;
                return 0;
        }

        if (!json_object_is_type(v, json_type_object))
                return config_error(reterr, key_path,
                                    "must be \"at\" or {\"command\": [\"/path/to/program\", ...], \"try_at_first\": true|false}");

        /* The object replaces an earlier "reset" as a whole. */
        c->reset.command = strv_free(c->reset.command);
        c->reset.try_at_first = false;

        r = json_dispatch_table(v, key_path, reset_keys, ELEMENTSOF(reset_keys), JSON_DISPATCH_CALLER_ESCAPES, c, reterr);
        if (r < 0)
                return r;

        if (!c->reset.command)
                return config_error(reterr, key_path, "\"command\" is required");

        c->reset.method = RESET_METHOD_COMMAND;
        return 0;
}

static int config_parse_records_max_age(json_object *v, const char *key_path, void *data, char **reterr) {
        usec_t *usec = data;
        unsigned days = 0;
        int r;

        r = config_parse_uint(v, key_path, 0, RECORDS_MAX_AGE_DAYS_MAX, &days, reterr);
        if (r < 0)
                return r;

        *usec = (usec_t) days * 24 * 60 * 60 * USEC_PER_SEC;
        return 0;
}

static int config_parse_records_max_count(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_uint(v, key_path, 0, RECORDS_MAX_COUNT_MAX, data, reterr);
}

static const JsonField records_keys[] = {
        { "max_age_days", config_parse_records_max_age,   offsetof(Config, records_max_age)   },
        { "max_count",    config_parse_records_max_count, offsetof(Config, records_max_count) },
};

static int config_parse_records(json_object *v, const char *key_path, void *data, char **reterr) {
        /* Key by key, like "timeouts": a drop-in that sets one limit keeps the other. */
        return json_dispatch_table(v, key_path, records_keys, ELEMENTSOF(records_keys), JSON_DISPATCH_CALLER_ESCAPES, data, reterr);
}

static const JsonField local_keys[] = {
        { "inbox", config_parse_path, offsetof(Config, control_planes.inbox) },
};

static int config_parse_local(json_object *v, const char *key_path, void *data, char **reterr) {
        return json_dispatch_table(v, key_path, local_keys, ELEMENTSOF(local_keys), JSON_DISPATCH_CALLER_ESCAPES, data, reterr);
}

/* ---- mqtt: the MQTT control plane (issue 5) ------------------------------------------------- */

/* Per MQTT 3.1.1 §3.1.2.10 keepalive is a 16-bit number of seconds; below 5 s the pings would be
 * most of the traffic. */
#define MQTT_KEEPALIVE_MIN 5
#define MQTT_KEEPALIVE_MAX 65535
#define MQTT_USERNAME_MAX 256
#define MQTT_ALPN_MAX 255
/* A DNS name is at most 253 characters; an IPv6 literal with a zone fits too. */
#define MQTT_HOST_MAX 255
/* AWS IoT Jobs' stepTimeoutInMinutes: 1..10080 (a week); 0 is ours, "do not send it". */
#define MQTT_STEP_TIMEOUT_MAX 10080

/* "mqtt" objects merge key by key over drop-ins, so a key left out is told apart from one set to
 * its default until mqtt_config_finish(): these values cannot come from the config file. */
#define MQTT_STEP_TIMEOUT_UNSET UINT_MAX
/* dialect: _MQTT_DIALECT_INVALID; strings: NULL; port, keepalive, protocol, the usec_t: 0. */

static MqttConfig *mqtt_config_new(void) {
        MqttConfig *c = calloc(1, sizeof(MqttConfig));

        if (!c)
                return NULL;

        c->dialect = _MQTT_DIALECT_INVALID;
        c->step_timeout_minutes = MQTT_STEP_TIMEOUT_UNSET;
        return c;
}

static bool char_is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool char_is_printable(char c) {
        return c >= 0x20 && c <= 0x7e;
}

static bool char_is_graph(char c) {
        return c > 0x20 && c <= 0x7e;
}

/* [A-Za-z0-9._:-] */
static bool char_is_device_id(char c) {
        return char_is_alnum(c) || IN_SET(c, '.', '_', ':', '-');
}

/* [A-Za-z0-9:_-]: AWS IoT's thing name. */
static bool char_is_thing_name(char c) {
        return char_is_alnum(c) || IN_SET(c, '_', ':', '-');
}

/* A topic name's characters: no wildcards (MQTT 3.1.1 §4.7.1). */
static bool char_is_topic(char c) {
        return char_is_printable(c) && !IN_SET(c, '+', '#');
}

#define DEVICE_ID_CHARS "letters, digits, '.', '_', ':' and '-' only"
#define THING_NAME_CHARS "letters, digits, '_', ':' and '-' only"
#define GRAPH_CHARS "printable ASCII without spaces only"
#define PRINTABLE_CHARS "printable ASCII only"
#define TOPIC_CHARS "printable ASCII without the wildcards '+' and '#' only"

static bool string_is_valid(const char *s, size_t max, bool (*char_ok)(char c)) {
        if (isempty(s) || strlen(s) > max)
                return false;
        for (const char *p = s; *p; p++)
                if (!char_ok(*p))
                        return false;
        return true;
}

/* 1..max bytes of char_ok characters; allowed says which, for the message. */
static int mqtt_check_string(
                const char *s,
                const char *key_path,
                size_t max,
                bool (*char_ok)(char c),
                const char *allowed,
                char **reterr) {

        if (isempty(s))
                return config_error(reterr, key_path, "must not be empty");
        if (strlen(s) > max)
                return config_error(reterr, key_path, "must be at most %zu bytes", max);

        for (size_t i = 0; s[i]; i++) {
                if (char_ok(s[i]))
                        continue;

                if (s[i] == ' ')
                        return config_error(reterr, key_path, "must not contain spaces (%s)", allowed);
                if (char_is_graph(s[i]))
                        return config_error(reterr, key_path, "must not contain '%c' (%s)", s[i], allowed);
                return config_error(reterr, key_path, "contains byte 0x%02x at offset %zu (%s)",
                                    (unsigned) (unsigned char) s[i], i, allowed);
        }

        return 0;
}

static int mqtt_parse_string(
                json_object *v,
                const char *key_path,
                size_t max,
                bool (*char_ok)(char c),
                const char *allowed,
                char **ret,
                char **reterr) {

        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = mqtt_check_string(s, key_path, max, char_ok, allowed, reterr);
        if (r < 0)
                return r;

        return free_and_strdup(ret, s);
}

/* A file read at run time (by libmosquitto/OpenSSL, possibly after a reconnect days later): checked
 * now, so that a typo is a start-up error. */
static int config_check_readable(const char *path, const char *key_path, char **reterr) {
        struct stat st;
        int r;

        if (access(path, R_OK) < 0 || stat(path, &st) < 0) {
                r = -errno;
                return reason_set(reterr, r, key_path, "cannot read %s: %s", path, strerror(-r));
        }
        if (S_ISDIR(st.st_mode))
                return reason_set(reterr, -EISDIR, key_path, "cannot read %s: %s", path, strerror(EISDIR));
        /* A FIFO would block OpenSSL's fopen() at connect time, with the event loop. */
        if (!S_ISREG(st.st_mode)) {
                char buf[64];

                return reason_set(reterr, -EBADFD, key_path, "%s %s", path, read_error_to_string(-EBADFD, 0, buf));
        }

        return 0;
}

static int config_parse_readable_path(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] != '/')
                return config_error(reterr, key_path, "must be an absolute path, not \"%s\"", s);

        r = config_check_readable(s, key_path, reterr);
        if (r < 0)
                return r;

        return free_and_strdup(data, s);
}

static int mqtt_dialect_from_name(const char *s) {
        return mqtt_dialect_from_string(s);
}

static const char *mqtt_dialect_name(int d) {
        return mqtt_dialect_to_string(d);
}

static int config_parse_mqtt_dialect(json_object *v, const char *key_path, void *data, char **reterr) {
        int d, r;

        r = config_parse_enum(v, key_path, mqtt_dialect_from_name, mqtt_dialect_name, _MQTT_DIALECT_MAX,
                              -1, NULL, &d, reterr);
        if (r < 0)
                return r;
        *(MqttDialect *) data = d;
        return 0;
}

/* A host name or an IP address; an absolute path is a unix socket (libmosquitto connects to one
 * when the port is 0). */
static int config_parse_mqtt_host(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        if (s[0] == '/') {
                if (strlen(s) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                        return config_error(reterr, key_path, "a unix socket path must be shorter than %zu bytes",
                                            sizeof(((struct sockaddr_un *) NULL)->sun_path));
        } else {
                r = mqtt_check_string(s, key_path, MQTT_HOST_MAX, char_is_graph, GRAPH_CHARS, reterr);
                if (r < 0)
                        return r;
        }

        return free_and_strdup(data, s);
}

/* 0 is no port (IANA lists it as reserved) and was once silently taken as "the default": the
 * default is what leaving the key out gives, so 0 only ever means "absent", until
 * mqtt_config_finish(). */
static int config_parse_mqtt_port(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_uint(v, key_path, 1, 65535, data, reterr);
}

static int config_parse_mqtt_device_id(json_object *v, const char *key_path, void *data, char **reterr) {
        return mqtt_parse_string(v, key_path, MQTT_ID_MAX, char_is_device_id, DEVICE_ID_CHARS, data, reterr);
}

static int config_parse_mqtt_client_id(json_object *v, const char *key_path, void *data, char **reterr) {
        return mqtt_parse_string(v, key_path, MQTT_ID_MAX, char_is_graph, GRAPH_CHARS, data, reterr);
}

static int config_parse_mqtt_thing_name(json_object *v, const char *key_path, void *data, char **reterr) {
        return mqtt_parse_string(v, key_path, MQTT_ID_MAX, char_is_thing_name, THING_NAME_CHARS, data, reterr);
}

/* Topic levels put in front of every topic of ours: "<prefix>/<device_id>/...". */
static int config_parse_mqtt_prefix(json_object *v, const char *key_path, void *data, char **reterr) {
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = mqtt_check_string(s, key_path, MQTT_ID_MAX, char_is_topic, TOPIC_CHARS, reterr);
        if (r < 0)
                return r;

        if (s[0] == '$')
                return config_error(reterr, key_path, "must not start with '$' (such topics are the broker's)");
        if (s[0] == '/')
                return config_error(reterr, key_path, "must not start with '/'");
        if (s[strlen(s) - 1] == '/')
                return config_error(reterr, key_path, "must not end with '/'");
        if (strstr(s, "//"))
                return config_error(reterr, key_path, "must not contain \"//\" (an empty topic level)");

        return free_and_strdup(data, s);
}

static int config_parse_mqtt_protocol(json_object *v, const char *key_path, void *data, char **reterr) {
        int *protocol = data;
        const char *s;

        s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (streq_ptr(s, "3.1.1"))
                *protocol = MQTT_PROTOCOL_V311;
        else if (streq_ptr(s, "5"))
                *protocol = MQTT_PROTOCOL_V5;
        else
                return config_error(reterr, key_path, "must be \"3.1.1\" or \"5\"");

        return 0;
}

static int config_parse_mqtt_keepalive(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_uint(v, key_path, MQTT_KEEPALIVE_MIN, MQTT_KEEPALIVE_MAX, data, reterr);
}

static int config_parse_mqtt_username(json_object *v, const char *key_path, void *data, char **reterr) {
        return mqtt_parse_string(v, key_path, MQTT_USERNAME_MAX, char_is_printable, PRINTABLE_CHARS, data, reterr);
}

/* An MQTT password is any bytes but NUL (MQTT 3.1.1 §3.1.3.5): no check of its characters beyond
 * config_parse_password_file()'s (no NUL, one line). */
static int config_parse_mqtt_password_file(json_object *v, const char *key_path, void *data, char **reterr) {
        MqttConfig *c = data;

        return config_parse_password_file(v, key_path, /* allow_empty= */ false, MQTT_PASSWORD_MAX, NULL,
                                          &c->password, &c->password_file, reterr);
}

static int config_parse_mqtt_step_timeout(json_object *v, const char *key_path, void *data, char **reterr) {
        return config_parse_uint(v, key_path, 0, MQTT_STEP_TIMEOUT_MAX, data, reterr);
}

/* The private key: a path, or a systemd credential (LoadCredential=) like password_file. */
static int config_parse_mqtt_key_file(json_object *v, const char *key_path, void *data, char **reterr) {
        char **key_file = data;
        _cleanup_free_ char *path = NULL;
        const char *s;
        int r;

        r = config_get_string(v, key_path, &s, reterr);
        if (r < 0)
                return r;

        r = config_resolve_credential(s, key_path, &path, reterr);
        if (r < 0)
                return r;

        r = config_check_readable(path, key_path, reterr);
        if (r < 0)
                return r;

        free(*key_file);
        *key_file = TAKE_PTR(path);
        return 0;
}

static int config_parse_mqtt_alpn(json_object *v, const char *key_path, void *data, char **reterr) {
        return mqtt_parse_string(v, key_path, MQTT_ALPN_MAX, char_is_graph, GRAPH_CHARS, data, reterr);
}

static const JsonField mqtt_tls_keys[] = {
        { "ca_file",          config_parse_readable_path, offsetof(MqttConfig, ca_file)          },
        { "certificate_file", config_parse_readable_path, offsetof(MqttConfig, certificate_file) },
        { "key_file",         config_parse_mqtt_key_file, offsetof(MqttConfig, key_file)         },
        { "alpn",             config_parse_mqtt_alpn,     offsetof(MqttConfig, alpn)             },
};

/* Present: TLS on. Merged key by key like "mqtt" itself. */
static int config_parse_mqtt_tls(json_object *v, const char *key_path, void *data, char **reterr) {
        MqttConfig *c = data;
        int r;

        r = json_dispatch_table(v, key_path, mqtt_tls_keys, ELEMENTSOF(mqtt_tls_keys), JSON_DISPATCH_CALLER_ESCAPES, c, reterr);
        if (r < 0)
                return r;

        c->tls = true;
        return 0;
}

static const JsonField mqtt_keys[] = {
        { "dialect",              config_parse_mqtt_dialect,       offsetof(MqttConfig, dialect)              },
        { "host",                 config_parse_mqtt_host,          offsetof(MqttConfig, host)                 },
        { "port",                 config_parse_mqtt_port,          offsetof(MqttConfig, port)                 },
        { "device_id",            config_parse_mqtt_device_id,     offsetof(MqttConfig, device_id)            },
        { "client_id",            config_parse_mqtt_client_id,     offsetof(MqttConfig, client_id)            },
        { "thing_name",           config_parse_mqtt_thing_name,    offsetof(MqttConfig, thing_name)           },
        { "prefix",               config_parse_mqtt_prefix,        offsetof(MqttConfig, prefix)               },
        { "protocol",             config_parse_mqtt_protocol,      offsetof(MqttConfig, protocol)             },
        { "keepalive",            config_parse_mqtt_keepalive,     offsetof(MqttConfig, keepalive)            },
        { "username",             config_parse_mqtt_username,      offsetof(MqttConfig, username)             },
        { "password_file",        config_parse_mqtt_password_file, 0                                          },
        { "password",             config_parse_password_refused,   0                                          },
        { "tls",                  config_parse_mqtt_tls,           0                                          },
        { "reconnect_min",        config_parse_sec,                offsetof(MqttConfig, reconnect_min)        },
        { "reconnect_max",        config_parse_sec,                offsetof(MqttConfig, reconnect_max)        },
        { "request_timeout",      config_parse_sec,                offsetof(MqttConfig, request_timeout)      },
        { "step_timeout_minutes", config_parse_mqtt_step_timeout,  offsetof(MqttConfig, step_timeout_minutes) },
        { "heartbeat",            config_parse_sec,                offsetof(MqttConfig, heartbeat)            },
};

static int config_parse_mqtt(json_object *v, const char *key_path, void *data, char **reterr) {
        MqttConfig **c = data;

        if (!json_object_is_type(v, json_type_object))
                return config_error(reterr, key_path, "must be a JSON object");

        /* Key by key, like "timeouts": a drop-in that sets one key keeps the others. The defaults
         * that depend on other keys, and the checks across keys, wait for mqtt_config_finish(). */
        if (!*c) {
                *c = mqtt_config_new();
                if (!*c)
                        return -ENOMEM;
        }

        return json_dispatch_table(v, key_path, mqtt_keys, ELEMENTSOF(mqtt_keys), JSON_DISPATCH_CALLER_ESCAPES, *c, reterr);
}

/* "1.5" for 1500000 µs, "300" for 300 s: seconds as the config file gives them. */
static const char *format_sec(char buf[static 32], usec_t u) {
        int n = snprintf(buf, 32, "%" PRIu64, u / USEC_PER_SEC);

        if (u % USEC_PER_SEC != 0 && n > 0 && n < 24) {
                snprintf(buf + n, 32 - n, ".%06" PRIu64, u % USEC_PER_SEC);
                for (char *e = buf + strlen(buf) - 1; *e == '0'; e--)
                        *e = '\0';
        }
        return buf;
}

/* The default device id. A host name may hold any byte; only printable ones are quoted back. */
static int mqtt_device_id_from_hostname(char **ret, char **reterr) {
        char name[HOST_NAME_MAX + 1] = {};

        if (gethostname(name, sizeof(name) - 1) < 0) {
                int r = -errno;

                return reason_set(reterr, r, "mqtt.device_id", "cannot get the host name for the default (%s); set \"device_id\"",
                                  strerror(-r));
        }

        if (!string_is_valid(name, MQTT_ID_MAX, char_is_device_id)) {
                for (char *p = name; *p; p++)
                        if (!char_is_printable(*p))
                                *p = '?';
                return config_error(reterr, "mqtt.device_id",
                                    "the host name \"%s\" is not a valid device id (1..%i characters, " DEVICE_ID_CHARS
                                    "); set \"device_id\"", name, MQTT_ID_MAX);
        }

        *ret = strdup(name);
        return *ret ? 0 : -ENOMEM;
}

/* Once every file is read: the required keys, the defaults that depend on other keys, the checks
 * across keys. Messages name the key at fault, or the object for a missing key. */
static int mqtt_config_finish(MqttConfig *c, char **reterr) {
        char a[32], b[32];
        int r;

        if (c->dialect < 0)
                return config_error(reterr, "mqtt", "\"dialect\" is required");
        if (!c->host)
                return config_error(reterr, "mqtt", "\"host\" is required");

        /* port 0: the key was left out (config_parse_mqtt_port() takes 1..65535 only). */
        if (c->host[0] == '/') {
                if (c->port != 0)
                        return config_error(reterr, "mqtt.port", "must be left out when \"host\" is a unix socket path (%s)",
                                            c->host);
        } else if (c->port == 0)
                c->port = c->tls ? 8883 : 1883;

        if (!c->device_id) {
                r = mqtt_device_id_from_hostname(&c->device_id, reterr);
                if (r < 0)
                        return r;
        }
        if (!c->client_id && !(c->client_id = strdup(c->device_id)))
                return -ENOMEM;
        if (!c->thing_name) {
                /* The plain dialect does not use it: any device id will do there. */
                if (c->dialect == MQTT_DIALECT_AWS_IOT_JOBS && !string_is_valid(c->device_id, MQTT_ID_MAX, char_is_thing_name))
                        return config_error(reterr, "mqtt.thing_name",
                                            "the device id \"%s\" is not a valid AWS IoT thing name (" THING_NAME_CHARS
                                            "); set \"thing_name\"", c->device_id);
                c->thing_name = strdup(c->device_id);
                if (!c->thing_name)
                        return -ENOMEM;
        }
        if (!c->prefix && !(c->prefix = strdup("dfotad")))
                return -ENOMEM;

        if (c->protocol == 0)
                c->protocol = MQTT_PROTOCOL_V311;
        if (c->keepalive == 0)
                c->keepalive = 60;

        if (c->password && !c->username)
                return config_error(reterr, "mqtt.password_file", "needs \"username\" (MQTT sends a password only with a user name)");

        if (c->certificate_file && !c->key_file)
                return config_error(reterr, "mqtt.tls", "\"key_file\" is required with \"certificate_file\"");
        if (c->key_file && !c->certificate_file)
                return config_error(reterr, "mqtt.tls", "\"certificate_file\" is required with \"key_file\"");

        if (c->reconnect_min == 0)
                c->reconnect_min = 1 * USEC_PER_SEC;
        if (c->reconnect_max == 0)
                c->reconnect_max = 300 * USEC_PER_SEC;
        if (c->reconnect_max < c->reconnect_min)
                return config_error(reterr, "mqtt.reconnect_max", "%s s is less than reconnect_min (%s s)",
                                    format_sec(a, c->reconnect_max), format_sec(b, c->reconnect_min));

        if (c->request_timeout == 0)
                c->request_timeout = 10 * USEC_PER_SEC;

        if (c->step_timeout_minutes == MQTT_STEP_TIMEOUT_UNSET)
                c->step_timeout_minutes = 60;
        if (c->step_timeout_minutes == 0) {
                /* The heartbeat only renews the step timer (include/config.h: 0 when step timeouts
                 * are off); one set here would silently do nothing. */
                if (c->heartbeat != 0)
                        return config_error(reterr, "mqtt.heartbeat",
                                            "is not used when step_timeout_minutes is 0 (no step timer to renew); leave it out");
        } else {
                usec_t step = (usec_t) c->step_timeout_minutes * 60 * USEC_PER_SEC;

                if (c->heartbeat == 0)
                        c->heartbeat = step / 3;
                else if (c->heartbeat >= step)
                        return config_error(reterr, "mqtt.heartbeat",
                                            "%s s must be less than step_timeout_minutes (%u min = %" PRIu64 " s), "
                                            "or the step timer runs out between two updates",
                                            format_sec(a, c->heartbeat), c->step_timeout_minutes, step / USEC_PER_SEC);
        }

        return 0;
}

static const JsonField config_keys[] = {
        { "state_directory", config_parse_path,      offsetof(Config, state_directory) },
        { "log_level",       config_parse_log_level, offsetof(Config, log_level)       },
        { "modems",          config_parse_modems,    0                                 },
        { "timeouts",        config_parse_timeouts,  offsetof(Config, timeouts)        },
        { "reset",           config_parse_reset,     0                                 },
        { "records",         config_parse_records,   0                                 },
        { "local",           config_parse_local,     0                                 },
        { "hotplug",         config_parse_bool,      offsetof(Config, hotplug)         },
        { "mqtt",            config_parse_mqtt,      offsetof(Config, control_planes.mqtt) },
};

/* key_path is NULL for the top level. */
static int config_parse_json(const char *text, size_t size, json_object **ret, char **reterr) {
        return json_parse_strict(text, size, NULL, ret, reterr);
}

/* *mqtt_source: the last file that set "mqtt" keys, named in the messages of mqtt_config_finish(). */
static int config_apply_file(Config *c, const char *path, bool missing_ok, char **mqtt_source, char **reterr) {
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_object *o = NULL;
        size_t size = 0;
        int r;

        /* Never blocks, and says what the path is when it is no file to read: a FIFO given as the
         * config file (or left among the drop-ins) must not hang start-up. */
        r = read_file_bounded(AT_FDCWD, path, CONFIG_FILE_MAX, 0, &text, &size);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r < 0) {
                char buf[64];

                return reason_set(reterr, r, path, "%s", read_error_to_string(r, CONFIG_FILE_MAX, buf));
        }

        r = config_parse_json(text, size, &o, &err);
        if (r >= 0) {
                r = json_dispatch_table(o, NULL, config_keys, ELEMENTSOF(config_keys), JSON_DISPATCH_CALLER_ESCAPES, c, &err);
                if (r >= 0 && json_object_object_get_ex(o, "mqtt", NULL))
                        r = free_and_strdup(mqtt_source, path);
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

static int config_apply_dropins(Config *c, const char *path, char **mqtt_source, char **reterr) {
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
                        r = config_apply_file(c, p, /* missing_ok= */ true, mqtt_source, reterr);
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
                        .state_write_retry      =   10 * USEC_PER_SEC,
                },
                .reset.method = RESET_METHOD_AT,
                .records_max_age = 90 * 24 * 60 * 60 * USEC_PER_SEC,
                .records_max_count = 1000,
                .hotplug = true,
        };

        /* systemd joins several StateDirectory= entries with ':'; the first is ours. */
        n = e ? strcspn(e, ":") : 0;
        c->state_directory = n > 0 ? strndup(e, n) : strdup(CONFIG_DEFAULT_STATE_DIRECTORY);
        if (!c->state_directory)
                return -ENOMEM;

        return 0;
}

/* Defaults that depend on other keys, computed once every file has been read. mqtt_source: the
 * file named in messages about "mqtt" (config_apply_file()). */
static int config_finish(Config *c, const char *mqtt_source, char **reterr) {
        int r;

        if (!c->control_planes.inbox && asprintf(&c->control_planes.inbox, "%s/inbox", c->state_directory) < 0) {
                c->control_planes.inbox = NULL;
                return -ENOMEM;
        }

        if (c->control_planes.mqtt) {
                _cleanup_free_ char *err = NULL;

                r = mqtt_config_finish(c->control_planes.mqtt, &err);
                if (r < 0)
                        return err ? reason_set(reterr, r, mqtt_source, "%s", err) : r;
        }

        return 0;
}

static void config_done(Config *c) {
        free(c->state_directory);
        modem_config_free_many(c->modems, c->n_modems);
        strv_free(c->reset.command);
        control_planes_config_done(&c->control_planes);
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
                r = config_finish(&tmp, NULL, NULL);
        if (r < 0) {
                config_done(&tmp);
                return r;
        }

        *c = tmp;
        return 0;
}

int config_load(const char *path, bool path_explicit, Config **ret, char **reterr) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *err = NULL, *mqtt_source = NULL;
        int r;

        if (!path)
                path = CONFIG_DEFAULT_PATH;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;

        r = config_fill_defaults(c);
        if (r >= 0)
                r = config_apply_file(c, path, /* missing_ok= */ !path_explicit, &mqtt_source, &err);
        if (r >= 0)
                r = config_apply_dropins(c, path, &mqtt_source, &err);
        if (r >= 0)
                r = config_finish(c, mqtt_source ?: path, &err);
        if (r < 0) {
                /* The message quotes what the file says (a key, a value, a path) and goes to the
                 * log: escaped here, once for every message, so that a control character in the
                 * file cannot forge or break a log line (escape.h; found by tests/fuzz/fuzz-config). */
                if (reterr && err) {
                        *reterr = escape_foreign_str(err, 4 * REASON_MAX);
                        if (!*reterr)
                                return -ENOMEM;
                }
                return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}
