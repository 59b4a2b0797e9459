/*
 * Unit tests for restore/my_keys.c: which SHOW CREATE TABLE lines a
 * MariaDB restore builds after the data, the clauses it drops and adds
 * them with, and the refusals (not InnoDB, partitioned, unreadable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "restore/my_keys.h"

/* Amavis' msgs as MariaDB 10.11 prints it (columns shortened). */
static const char msgs[] =
	"CREATE TABLE `msgs` (\n"
	"  `partition_tag` int(11) NOT NULL DEFAULT 0,\n"
	"  `mail_id` varbinary(16) NOT NULL,\n"
	"  `sid` bigint(20) unsigned NOT NULL,\n"
	"  `message_id` varchar(255) DEFAULT '',\n"
	"  `time_num` int(10) unsigned NOT NULL,\n"
	"  PRIMARY KEY (`partition_tag`,`mail_id`),\n"
	"  KEY `msgs_idx_sid` (`sid`),\n"
	"  KEY `msgs_idx_mess_id` (`message_id`),\n"
	"  KEY `msgs_idx_time_num` (`time_num`),\n"
	"  CONSTRAINT `msgs_ibfk_1` FOREIGN KEY (`sid`) REFERENCES `maddr` (`id`)\n"
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci";

static void test_amavis_msgs(void **state)
{
	struct ms_my_keys k;

	(void)state;
	ms_my_keys_parse(msgs, &k);
	assert_int_equal(k.n, 3);
	assert_string_equal(k.drop, "DROP KEY `msgs_idx_sid`, DROP KEY `msgs_idx_mess_id`, DROP KEY `msgs_idx_time_num`");
	assert_string_equal(k.add, "ADD KEY `msgs_idx_sid` (`sid`), ADD KEY `msgs_idx_mess_id` (`message_id`), "
				   "ADD KEY `msgs_idx_time_num` (`time_num`)");
	ms_my_keys_clear(&k);
	assert_null(k.drop);
}

/* Unique, fulltext and spatial keys stay; the last key line has no comma;
 * names and comments with backquotes, commas and quotes are kept as
 * printed. */
static void test_only_plain_keys(void **state)
{
	static const char t[] =
		"CREATE TABLE `t` (\n"
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n"
		"  `a` varchar(100) DEFAULT NULL COMMENT '  KEY `fake` (`a`),',\n"
		"  `b` text DEFAULT NULL,\n"
		"  PRIMARY KEY (`id`),\n"
		"  UNIQUE KEY `ua` (`a`),\n"
		"  KEY `we``ird, name` (`a`(10)) USING BTREE COMMENT 'it''s, here',\n"
		"  FULLTEXT KEY `fb` (`b`),\n"
		"  KEY `last` (`b`(20))\n"
		") ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";
	struct ms_my_keys k;

	(void)state;
	ms_my_keys_parse(t, &k);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.drop, "DROP KEY `we``ird, name`, DROP KEY `last`");
	assert_string_equal(k.add, "ADD KEY `we``ird, name` (`a`(10)) USING BTREE COMMENT 'it''s, here', "
				   "ADD KEY `last` (`b`(20))");
	ms_my_keys_clear(&k);
}

static void test_not_eligible(void **state)
{
	static const char *const cases[] = {
		/* not InnoDB */
		"CREATE TABLE `t` (\n  `a` int(11) DEFAULT NULL,\n  KEY `a` (`a`)\n) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4",
		/* partitioned */
		"CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  KEY `a` (`a`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4\n"
		" PARTITION BY HASH (`a`)\nPARTITIONS 2",
		/* no plain key */
		"CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB",
		/* a key name that does not close */
		"CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  KEY `a (`a`)\n) ENGINE=InnoDB",
		/* not a table */
		"CREATE VIEW `v` AS select 1\n  KEY `a` (`a`)\n) ENGINE=InnoDB",
		/* cut short */
		"CREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  KEY `a` (`a`)\n",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ms_my_keys k;

		ms_my_keys_parse(cases[i], &k);
		if (k.n != 0 || k.drop || k.add)
			fail_msg("case %zu: %zu keys found", i, k.n);
		ms_my_keys_clear(&k);
	}
}

static void test_normal(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n"
		  ") ENGINE=InnoDB AUTO_INCREMENT=1001 DEFAULT CHARSET=utf8mb4",
		  "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n"
		  ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" },
		/* only in the table options: a column comment keeps its text */
		{ "CREATE TABLE `t` (\n  `a` int(11) COMMENT ' AUTO_INCREMENT=5'\n) ENGINE=InnoDB",
		  "CREATE TABLE `t` (\n  `a` int(11) COMMENT ' AUTO_INCREMENT=5'\n) ENGINE=InnoDB" },
		{ "no options line", "no options line" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = ms_my_show_create_normal(cases[i].in);

		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amavis_msgs),
		cmocka_unit_test(test_only_plain_keys),
		cmocka_unit_test(test_not_eligible),
		cmocka_unit_test(test_normal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
