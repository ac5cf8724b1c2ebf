/* The D-Bus interface's pure part: object paths to ids (daemon/dbus.c),
 * and the [dbus] keys of the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/dbus.h"

static void test_path_to_id(void **state)
{
	static const struct {
		const char *path;
		int r;
		unsigned int id;
	} cases[] = {
		{ "/org/alrd/Roaming1/IAP/7", 0, 7 },
		{ "/org/alrd/Roaming1/IAP/0", 0, 0 },
		{ "/org/alrd/Roaming1/IAP/4294967295", 0, 4294967295u },
		{ "/org/alrd/Roaming1/IAP/4294967296", -EINVAL, 0 },    /* > UINT_MAX */
		{ "/org/alrd/Roaming1/IAP/99999999999", -EINVAL, 0 },   /* 11 digits */
		{ "/org/alrd/Roaming1/IAP/07", -EINVAL, 0 },            /* leading zero */
		{ "/org/alrd/Roaming1/IAP/", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAP", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAP/7/x", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAP/7x", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAP/-1", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAP/+1", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/IAPX/1", -EINVAL, 0 },
		{ "/org/alrd/Roaming1/Profile/1", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned int id = 12345;
		int r = dbus_path_to_id("/org/alrd/Roaming1/IAP", cases[i].path, &id);

		if (r != cases[i].r)
			fail_msg("%s: %d, expected %d", cases[i].path, r, cases[i].r);
		if (r == 0 && id != cases[i].id)
			fail_msg("%s: id %u, expected %u", cases[i].path, id, cases[i].id);
		if (r < 0 && id != 12345)
			fail_msg("%s: id written on error", cases[i].path);
	}
}

static void test_config_keys(void **state)
{
	static const char text[] = "[dbus]\nenable = no\naddress = unix:path=/run/x/bus\n";
	static const char bad[] = "[dbus]\nenable = maybe\n";
	static const char unknown[] = "[dbus]\nname = org.example\n";
	struct config_error e;
	struct config *c = config_new_defaults();

	(void)state;
	assert_non_null(c);
	assert_true(c->dbus);
	assert_null(c->dbus_address);
	config_free(c);

	assert_int_equal(config_parse_string("t.conf", text, strlen(text), &c, &e), 0);
	assert_false(c->dbus);
	assert_string_equal(c->dbus_address, "unix:path=/run/x/bus");
	config_free(c);

	assert_int_equal(config_parse_string("t.conf", bad, strlen(bad), &c, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.problem, "maybe"));
	assert_int_equal(config_parse_string("t.conf", unknown, strlen(unknown), &c, &e),
			 -EINVAL);
	assert_non_null(strstr(e.problem, "unknown key 'name' in [dbus]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_to_id),
		cmocka_unit_test(test_config_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
