/*
 * JSON output of the command line (--json): the only module of src/cli/
 * that includes jansson. A command builds one document with these
 * functions and prints it with ms_json_print.
 *
 * Text that is not UTF-8 follows the project's one rule (base/text.h,
 * docs/dev/architecture.md): a string read from the installation or an
 * archive (path, name, setting, version) is a JSON string when it is valid
 * UTF-8 and {"base64": "..."} otherwise, exactly as the manifest stores
 * byte strings (formats/FORMAT.md); an object key is repaired with U+FFFD.
 * No value is ever dropped. Every function taking a value takes ownership
 * of it; allocation failure aborts, like the rest of the project.
 */
#ifndef MS_CLI_OUTPUT_H
#define MS_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_t ms_json; /* jansson's json_t, opaque outside output.c */

ms_json *ms_json_object(void);
ms_json *ms_json_array(void);
ms_json *ms_json_null(void);
/* The rule above; NULL gives null. */
ms_json *ms_json_str(const char *s);
ms_json *ms_json_int(long long v);
/* A count that is unknown when negative: the number, or null. */
ms_json *ms_json_count(long long v);
ms_json *ms_json_bool(bool v);
ms_json *ms_json_real(double v);
/* A duration in seconds, to the millisecond (2.973, not 2.9729999999999999). */
ms_json *ms_json_seconds(double v);
/* A JSON document written by this program (header or manifest text of
 * formats/manifest.c); null when it does not parse. */
ms_json *ms_json_parse(const char *text);

/* obj[key] = v (key repaired when not UTF-8). Returns obj. */
ms_json *ms_json_set(ms_json *obj, const char *key, ms_json *v);
/* An object from key, value pairs ending with a NULL key:
 * ms_json_obj("from", a, "to", b, NULL). */
ms_json *ms_json_obj(const char *key, ...);
/* Appends v to arr. Returns arr. */
ms_json *ms_json_push(ms_json *arr, ms_json *v);
/* An array of the n strings of v (the rule above). */
ms_json *ms_json_strs(char *const *v, size_t n);

/* Writes v to stdout (two-space indent, keys in insertion order) and a
 * newline, then frees it. 0, or -1 after an error was logged. */
int ms_json_print(ms_json *v);
void ms_json_free(ms_json *v);

#endif
