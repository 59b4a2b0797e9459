/*
 * Unit tests for snapshot/components: the component set create takes
 * (defaults, [modosnap] components, capture_venv, [mail] enabled,
 * --pre-upgrade, --with/--without, --no-db) and mailbox names and paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/components.h"

/* The set as a string: "instance postfix db venv dkim system mail" minus what is off. */
static char *describe(const struct ms_component_set *s)
{
	char buf[256] = "";

	if (s->instance) strcat(buf, "instance ");
	if (s->postfix) strcat(buf, "postfix ");
	if (s->db) strcat(buf, "db ");
	if (s->venv) strcat(buf, "venv ");
	if (s->dkim) strcat(buf, "dkim ");
	if (s->system) strcat(buf, "system ");
	if (s->mail) strcat(buf, "mail ");
	return strdup(buf);
}

static void expect_set(const struct ms_component_request *req, const char *want)
{
	struct ms_component_set s;
	char *got;

	ms_components_choose(req, &s);
	got = describe(&s);
	assert_string_equal(got, want);
	free(got);
	ms_component_set_clear(&s);
}

static void test_defaults(void **state)
{
	struct ms_component_request req = { 0 };

	(void)state;
	expect_set(&req, "instance postfix db dkim system ");
	req.pre_upgrade = true;
	expect_set(&req, "instance postfix db venv dkim system ");
	req.pre_upgrade = false;
	req.capture_venv = true;
	req.mail_enabled = true;
	expect_set(&req, "instance postfix db venv dkim system mail ");
	req.no_db = true;
	expect_set(&req, "instance postfix venv dkim system mail ");
}

static void test_config_list_and_cli(void **state)
{
	struct ms_component_request req = { 0 };
	struct ms_strv with = { 0 }, without = { 0 }, list = { 0 }, one = { 0 };
	struct ms_component_set s;

	(void)state;
	ms_strv_push(&list, "instance");
	ms_strv_push(&list, "db");
	ms_strv_push(&list, "mail");
	ms_strv_push(&one, "instance");
	req.components = &list;
	expect_set(&req, "instance db mail ");
	ms_strv_push(&with, "venv");
	ms_strv_push(&without, "mail");
	ms_strv_push(&without, "db:amavis");
	req.with = &with;
	req.without = &without;
	expect_set(&req, "instance db venv ");
	ms_components_choose(&req, &s);
	assert_true(ms_component_set_has_db(&s, "default"));
	assert_false(ms_component_set_has_db(&s, "amavis"));
	ms_component_set_clear(&s);
	/* one database although "db" is off */
	req.components = &one;
	ms_strv_clear(&with);
	ms_strv_push(&with, "db:default");
	ms_components_choose(&req, &s);
	assert_true(ms_component_set_has_db(&s, "default"));
	assert_false(ms_component_set_has_db(&s, "amavis"));
	ms_component_set_clear(&s);
	/* --no-db wins */
	req.no_db = true;
	ms_components_choose(&req, &s);
	assert_false(ms_component_set_has_db(&s, "default"));
	ms_component_set_clear(&s);
	ms_strv_clear(&with);
	ms_strv_clear(&without);
	ms_strv_clear(&list);
	ms_strv_clear(&one);
}

static void test_mailbox(void **state)
{
	static const char *const bad[] = { "", "alice", "@example.org", "alice@", "../x@example.org",
					   "alice@..", "al/ice@example.org", "alice@exa\nmple.org", ".@example.org" };
	char *p;

	(void)state;
	assert_true(ms_mailbox_valid("alice@example.org"));
	assert_true(ms_mailbox_valid("a.b+c@mail.example.org"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(ms_mailbox_valid(bad[i]));
	p = ms_mailbox_path(NULL, "alice@example.org");
	assert_string_equal(p, "example.org/alice");
	free(p);
	p = ms_mailbox_path("%d/%n/Maildir", "alice@example.org");
	assert_string_equal(p, "example.org/alice/Maildir");
	free(p);
	p = ms_mailbox_path("%u", "alice@example.org");
	assert_string_equal(p, "alice@example.org");
	free(p);
	assert_null(ms_mailbox_path("%h/%n", "alice@example.org"));
	assert_null(ms_mailbox_path("/%d/%n", "alice@example.org"));
	assert_null(ms_mailbox_path("%d//%n", "alice@example.org"));
	assert_null(ms_mailbox_path("%d/%n", "alice"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_list_and_cli),
		cmocka_unit_test(test_mailbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
