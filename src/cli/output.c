/*
 * JSON output of the command line (see output.h).
 */
#include "cli/output.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "base/util.h"

/* jansson returns NULL only when out of memory or, for strings, on text
 * that is not UTF-8 (handled before it gets there). */
static ms_json *need(ms_json *j)
{
	if (!j)
		MS_BUG("jansson: out of memory");
	return j;
}

ms_json *ms_json_object(void)
{
	return need(json_object());
}

ms_json *ms_json_array(void)
{
	return need(json_array());
}

ms_json *ms_json_null(void)
{
	return json_null();
}

ms_json *ms_json_str(const char *s)
{
	json_t *o;
	char *b64;

	if (!s)
		return json_null();
	if (ms_utf8_valid(s, strlen(s)))
		return need(json_string(s));
	b64 = ms_b64_encode(s, strlen(s));
	o = ms_json_obj("base64", need(json_string(b64)), NULL);
	free(b64);
	return o;
}

ms_json *ms_json_int(long long v)
{
	return need(json_integer((json_int_t)v));
}

ms_json *ms_json_count(long long v)
{
	return v < 0 ? json_null() : ms_json_int(v);
}

ms_json *ms_json_bool(bool v)
{
	return json_boolean(v);
}

ms_json *ms_json_real(double v)
{
	return need(json_real(v));
}

ms_json *ms_json_seconds(double v)
{
	return ms_json_real(v >= 0 ? (double)(long long)(v * 1000.0 + 0.5) / 1000.0 : v);
}

ms_json *ms_json_parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	return j ? j : json_null();
}

ms_json *ms_json_set(ms_json *obj, const char *key, ms_json *v)
{
	char *fixed = NULL;

	if (!ms_utf8_valid(key, strlen(key)))
		key = fixed = ms_utf8_lossy(key);
	if (json_object_set_new(obj, key, need(v)) != 0)
		MS_BUG("jansson: cannot set an object member");
	free(fixed);
	return obj;
}

ms_json *ms_json_obj(const char *key, ...)
{
	json_t *o = ms_json_object();
	va_list ap;

	va_start(ap, key);
	for (; key; key = va_arg(ap, const char *))
		ms_json_set(o, key, va_arg(ap, ms_json *));
	va_end(ap);
	return o;
}

ms_json *ms_json_push(ms_json *arr, ms_json *v)
{
	if (json_array_append_new(arr, need(v)) != 0)
		MS_BUG("jansson: cannot append to an array");
	return arr;
}

ms_json *ms_json_strs(char *const *v, size_t n)
{
	json_t *a = ms_json_array();

	for (size_t i = 0; i < n; i++)
		ms_json_push(a, ms_json_str(v[i]));
	return a;
}

int ms_json_print(ms_json *v)
{
	/* 15 significant digits print every value this program rounds
	 * (ms_json_seconds) exactly, where jansson's default 17 show binary
	 * noise */
	int ret = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));

	putchar('\n');
	json_decref(v);
	if (ret != 0 || fflush(stdout) != 0)
		return ms_log_error("unable to write the JSON document to standard output");
	return 0;
}

void ms_json_free(ms_json *v)
{
	json_decref(v);
}
