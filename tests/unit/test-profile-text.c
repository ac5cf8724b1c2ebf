/* Profile export format: round trip, quoting, errors with line numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/profile-json.h"
#include "daemon/profile-text.h"

static struct profile *profile_from(const char *json)
{
	struct profile *p = profile_new();
	struct json_object *o = json_tokener_parse(json);
	struct profile_error e;

	assert_non_null(o);
	if (profile_apply_json(p, o, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	json_object_put(o);
	return p;
}

static const char *const sources[] = {
	"{\"provider_name\": \"Example \\\"Voice\\\" \\u00e9\", \"type\": \"ims\","
	" \"aor\": \"sip:+4930123@ims.example.org\", \"iap_id\": 4, \"bearer\": \"cellular\","
	" \"registrar\": {\"uri\": \"sip:scscf.example.org;transport=tcp\", \"transport\": \"tcp\","
	"   \"digest_user\": \"alice@ims.example.org\", \"realm\": \"ims.example.org\","
	"   \"password\": \" pass with spaces \\\" and # and = \","
	"   \"params\": [{\"name\": \"auth\", \"value\": \"aka\"}, {\"key\": 12, \"value\": 3}]},"
	" \"outbound_proxy\": {\"uri\": \"sip:pcscf.example.org;lr\", \"transport\": \"tls\","
	"   \"ca_file\": \"/etc/alrd/ims-ca.pem\","
	"   \"digest_user\": \"proxyuser\", \"password\": \"proxy-pw\","
	"   \"params\": [{\"name\": \"keepalive\", \"value\": true}]},"
	" \"proxy_from_dhcp\": true, \"auto_register\": true, \"default\": true,"
	" \"private_identity\": \"alice@ims.example.org\", \"security_negotiation\": true,"
	" \"sigcomp\": true,"
	" \"contact_params\": [\"+g.3gpp.smsip\", \"video\", \"x=\\\"q\\\\\\\"\\\"\"],"
	" \"extra_headers\": [\"P-Access-Network-Info: 3GPP-E-UTRAN-FDD\", \"X-Extra: \\u00e9t\\u00e9\"],"
	" \"expires\": 600000, \"dscp\": 46, \"locked\": true,"
	" \"params\": [{\"name\": \"count\", \"value\": -42},"
	"   {\"name\": \"max\", \"value\": 9223372036854775807},"
	"   {\"name\": \"flag\", \"value\": false},"
	"   {\"name\": \"label\", \"value\": \"a \\\"q\\\" \\\\ b \\u2603\"},"
	"   {\"name\": \"lead\", \"value\": \"  padded  \"},"
	"   {\"name\": \"empty\", \"value\": \"\"},"
	"   {\"name\": \"looks-json\", \"value\": \"[1, 2]\"},"
	"   {\"name\": \"none\", \"type\": \"string-list\", \"value\": []},"
	"   {\"key\": 70000, \"value\": [\"one\", \"\", \"th,ree\", \"[\\\"json\\\"]\"]},"
	"   {\"key\": 0, \"type\": \"int\", \"value\": 7}]}",

	"{\"provider_name\": \" leading space\", \"aor\": \"sip:bob@example.net\","
	" \"snap_id\": 2, \"registrar\": {\"uri\": \"sip:example.net\", \"password\": \"bob-pw\"},"
	" \"local_password\": \"bob-local-pw\"}",

	"{\"provider_name\": \"\\\"starts with a quote\", \"aor\": \"sip:carol@example.com\","
	" \"type\": \"other/acme\", \"registrar\": {\"uri\": \"sip:example.com\","
	" \"realm\": \"[bracket\"}, \"extra_headers\": [\"X-Hash: #not a comment\"]}",
};

#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))

static void test_round_trip(void **state)
{
	struct profile *in[N_SOURCES], **out = NULL;
	struct profile_text_error e;
	size_t n = 0;
	char *text = NULL;

	for (size_t i = 0; i < N_SOURCES; i++) {
		in[i] = profile_from(sources[i]);
		in[i]->id = (unsigned int)(10 + i);
	}

	/* with passwords: every profile comes back the same */
	assert_int_equal(profile_text_export((const struct profile *const *)in, N_SOURCES, true,
					     &text), 0);
	assert_non_null(strstr(text, "# id 10\n"));
	assert_non_null(strstr(text, "registrar.password = \" pass with spaces"));
	assert_non_null(strstr(text, "keep it private"));
	assert_non_null(strstr(text, "\nlocal_password = bob-local-pw\n"));
	if (profile_text_import(text, strlen(text), NULL, &out, &n, &e) != 0)
		fail_msg("line %u: %s\n%s", e.line, e.message, text);
	assert_int_equal(n, N_SOURCES);
	for (size_t i = 0; i < N_SOURCES; i++) {
		assert_int_equal(out[i]->id, 0);        /* ids are the daemon's to give */
		if (profile_diff(in[i], out[i]) != PROFILE_CHANGE_NONE)
			fail_msg("profile %zu differs after the round trip:\n%s", i, text);
	}
	profile_text_free(out, n);
	free(text);

	/* without: no password in the text, none after import, the rest equal */
	assert_int_equal(profile_text_export((const struct profile *const *)in, N_SOURCES, false,
					     &text), 0);
	assert_null(strstr(text, "password"));
	assert_null(strstr(text, "proxy-pw"));
	assert_null(strstr(text, "bob-pw"));
	assert_null(strstr(text, "bob-local-pw"));
	assert_non_null(strstr(text, "Passwords are not included"));
	assert_int_equal(profile_text_import(text, strlen(text), NULL, &out, &n, &e), 0);
	assert_int_equal(n, N_SOURCES);
	for (size_t i = 0; i < N_SOURCES; i++) {
		assert_null(out[i]->registrar.password);
		assert_null(out[i]->outbound_proxy.password);
		assert_null(out[i]->local_password);
		profile_set_string(&out[i]->local_password, in[i]->local_password, true);
		profile_set_string(&out[i]->registrar.password, in[i]->registrar.password, true);
		profile_set_string(&out[i]->outbound_proxy.password, in[i]->outbound_proxy.password,
				   true);
		assert_int_equal(profile_diff(in[i], out[i]), PROFILE_CHANGE_NONE);
	}
	profile_text_free(out, n);
	free(text);

	for (size_t i = 0; i < N_SOURCES; i++)
		profile_free(in[i]);
}

static void test_export_form(void **state)
{
	struct profile *p = profile_from(sources[1]);
	const struct profile *const v[] = { p };
	char *text;

	assert_int_equal(profile_text_export(v, 1, false, &text), 0);
	/* bare when it reads back the same, JSON-quoted otherwise */
	assert_non_null(strstr(text, "\n[profile]\n"));
	assert_non_null(strstr(text, "\nprovider_name = \" leading space\"\n"));
	assert_non_null(strstr(text, "\naor = sip:bob@example.net\n"));
	assert_non_null(strstr(text, "\ntype = ietf\n"));
	assert_non_null(strstr(text, "\nsnap_id = 2\n"));
	assert_null(strstr(text, "iap_id"));
	assert_non_null(strstr(text, "\nregistrar.transport = auto\n"));
	assert_non_null(strstr(text, "\nexpires = 3600\n"));
	assert_non_null(strstr(text, "\ndefault = false\n"));
	assert_null(strstr(text, "# id"));
	free(text);
	profile_free(p);

	/* no profiles: a valid, empty file */
	assert_int_equal(profile_text_export(NULL, 0, false, &text), 0);
	assert_non_null(strstr(text, "alrd profiles: 0"));
	free(text);
}

static void test_import_forms(void **state)
{
	static const char text[] =
		"# comment\r\n"
		"; another comment\r\n"
		"\r\n"
		"  [profile]  \r\n"
		"aor=sip:dave@example.org\r\n"
		"  provider_name   =   \"quotes \\\" and \\u00fcmlauts\"  \r\n"
		"registrar.uri = sip:example.org\r\n"
		"registrar.password = pw = with = equals\r\n"
		"contact_params = a\r\n"
		"contact_params = b=\"c d\"\r\n"
		"params.#5 = string-list [\"x\", \"y\"]\r\n"
		"params.s = string   spaced value  \r\n"
		"params.q = string \"\"\r\n"
		"params.e = string\r\n"
		"params.b = bool true\r\n"
		"outbound_proxy.params.n = int -3\r\n"
		"private_identity =\r\n"
		"[profile]\n"
		"aor = sip:erin@example.org";          /* no final newline */
	struct profile **out = NULL;
	struct profile_text_error e;
	const struct profile_param *pp;
	size_t n = 0;

	if (profile_text_import(text, strlen(text), NULL, &out, &n, &e) != 0)
		fail_msg("line %u: %s", e.line, e.message);
	assert_int_equal(n, 2);
	assert_string_equal(out[0]->aor, "sip:dave@example.org");
	assert_string_equal(out[0]->provider_name, "quotes \" and \xc3\xbcmlauts");
	assert_string_equal(out[0]->registrar.password, "pw = with = equals");
	assert_int_equal(out[0]->contact_params.n, 2);
	assert_string_equal(out[0]->contact_params.v[1], "b=\"c d\"");
	pp = profile_params_find_key(&out[0]->params, 5);
	assert_true(pp && pp->type == PROFILE_PARAM_STRING_LIST && pp->value.list.n == 2);
	pp = profile_params_find_name(&out[0]->params, "s");
	assert_string_equal(pp->value.s, "spaced value");
	pp = profile_params_find_name(&out[0]->params, "q");
	assert_string_equal(pp->value.s, "");
	pp = profile_params_find_name(&out[0]->params, "e");
	assert_string_equal(pp->value.s, "");
	pp = profile_params_find_name(&out[0]->params, "b");
	assert_true(pp->value.b);
	pp = profile_params_find_name(&out[0]->outbound_proxy.params, "n");
	assert_true(pp->value.i == -3);
	assert_null(out[0]->private_identity);
	assert_string_equal(out[1]->aor, "sip:erin@example.org");
	profile_text_free(out, n);

	/* nothing at all, or only comments: no profiles */
	assert_int_equal(profile_text_import("", 0, NULL, &out, &n, &e), 0);
	assert_int_equal(n, 0);
	profile_text_free(out, n);
	assert_int_equal(profile_text_import("# x\n\n", 5, NULL, &out, &n, &e), 0);
	assert_int_equal(n, 0);
	profile_text_free(out, n);
}

static int lookup_type(void *ud, enum profile_class cls, const char *name, unsigned int *ret)
{
	*ret = 0;
	return cls == PROFILE_CLASS_IETF && strcmp(name, "ietf") == 0 ? 0 : -ENOENT;
}

static void test_import_errors(void **state)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *message;            /* substring */
	} cases[] = {
		{ "aor = sip:a@example.org\n", 1, "before the first [profile]" },
		{ "[profiles]\n", 1, "unknown section '[profiles]'" },
		{ "[profile]\nfoo = 1\n", 2, "unknown key 'foo'" },
		{ "[profile]\njust some text\n", 2, "expected 'key = value'" },
		{ "[profile]\naor = sip:a@b.org\naor = sip:c@d.org\n", 3,
		  "aor is given twice (first on line 2)" },
		{ "[profile]\n# c\n\nauto_register = maybe\n", 4, "'maybe' is not true or false" },
		{ "[profile]\nexpires = soon\n", 2, "'soon' is not an integer" },
		{ "[profile]\nexpires = 99999999999999999999\n", 2, "not an integer" },
		{ "[profile]\nprovider_name = \"unterminated\n", 2, "bad quoted string" },
		{ "[profile]\nprovider_name = \"a\" trailing\n", 2, "bad quoted string" },
		{ "[profile]\nprovider_name = \"caf\xc3\"\n", 2, "bad quoted string" },
		/* validation errors point at the line that set the field */
		{ "[profile]\naor = sip:a@example.org\nregistrar.uri = sip:\n", 3,
		  "registrar.uri: 'sip:' is not a valid SIP URI" },
		{ "[profile]\naor = sip:a@example.org\n\n[profile]\nprovider_name = x\n", 4,
		  "aor: is missing" },
		{ "[profile]\naor = sip:a@example.org\ncontact_params = ok\n"
		  "contact_params = bad param\n", 4, "contact_params[1]: 'bad param'" },
		{ "[profile]\naor = sip:a@example.org\nsnap_id = 1\niap_id = 2\n", 3,
		  "snap_id: SNAP 1 and IAP 2 are both set" },
		{ "[profile]\naor = sip:a@example.org\ndscp = 64\n", 3, "dscp: 64 is out of range" },
		{ "[profile]\naor = sip:a@example.org\niap_id = 0\n", 3, "iap_id: 0 is not an IAP id" },
		{ "[profile]\naor = sip:a@example.org\nbearer = satellite\n", 3, "bearer: 'satellite'" },
		{ "[profile]\naor = sip:a@example.org\ntype = ietf/zeta\n", 3,
		  "type: no plugin serves type 'ietf/zeta'" },
		{ "[profile]\naor = sip:a@example.org\nprovider_name = caf\xc3\n", 3,
		  "provider_name: is not valid UTF-8" },
		{ "[profile]\naor = sip:a@example.org\nregistrar.password = \"x\\u0000y\"\n", 3,
		  "registrar.password: contains a NUL" },
		/* parameters */
		{ "[profile]\naor = sip:a@example.org\nparams.x = float 1\n", 3,
		  "'float' is not a parameter type" },
		{ "[profile]\naor = sip:a@example.org\nparams.x = int\n", 3, "'' is not an integer" },
		{ "[profile]\naor = sip:a@example.org\nparams.x = int 1\nparams.x = int 2\n", 4,
		  "params.x is given twice (first on line 3)" },
		{ "[profile]\naor = sip:a@example.org\nparams.#99999999999 = int 1\n", 3,
		  "not a numeric key" },
		{ "[profile]\naor = sip:a@example.org\nparams.#x = int 1\n", 3, "not a numeric key" },
		{ "[profile]\naor = sip:a@example.org\nparams.a = int 1\nparams.bad!name = int 1\n", 4,
		  "params[1].name: 'bad!name' is not a parameter name" },
		{ "[profile]\naor = sip:a@example.org\nparams.l = string-list [1]\n", 3,
		  "params[0].value[0]: must be a string" },
		{ "[profile]\naor = sip:a@example.org\nparams.l = string-list a,b\n", 3,
		  "expected a JSON array" },
		{ "[profile]\naor = sip:a@example.org\nparams.b = bool yes\n", 3, "not true or false" },
		{ "[profile]\naor = sip:a@example.org\nparams.s = string \"x\\u0001\"\n", 3,
		  "params.s: contains a control character" },
		{ "[profile]\naor = sip:a@example.org\nregistrar.params.a = int 1\n"
		  "registrar.params.b = string \"\\u0002\"\n", 4, "registrar.params.b: contains a control" },
		/* across profiles */
		{ "[profile]\naor = sip:a@example.org\ndefault = true\n[profile]\n"
		  "aor = sip:b@example.org\ndefault = true\n", 6,
		  "default: only one profile may be the default (another is, on line 3)" },
	};
	static const struct profile_validate_ctx ctx = { .lookup_type = lookup_type };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct profile **out = (struct profile **)0x1;
		struct profile_text_error e;
		size_t n = 77;
		int r = profile_text_import(cases[i].text, strlen(cases[i].text), &ctx, &out, &n, &e);

		if (r != -EINVAL)
			fail_msg("case %zu: import gave %d, want -EINVAL", i, r);
		if (e.line != cases[i].line || !strstr(e.message, cases[i].message))
			fail_msg("case %zu: got line %u '%s', want line %u with '%s'", i, e.line,
				 e.message, cases[i].line, cases[i].message);
		/* nothing handed out on failure */
		assert_ptr_equal(out, (struct profile **)0x1);
		assert_int_equal(n, 77);
	}

	/* a NUL byte in the input */
	{
		static const char nul[] = "[profile]\naor = sip:a@exa\0mple.org\n";
		struct profile **out;
		struct profile_text_error e;
		size_t n;

		assert_int_equal(profile_text_import(nul, sizeof(nul) - 1, NULL, &out, &n, &e),
				 -EINVAL);
		assert_int_equal(e.line, 2);
		assert_non_null(strstr(e.message, "NUL"));
	}
}

/*
 * What inih does not do by itself (daemon/profile-text.c): values longer
 * than its 200-byte line buffer, " ;" inside a value (its inline comment),
 * an indented key (its continuation line), a byte order mark, ':' instead
 * of '=' (its other separator).
 */
static void test_inih_limits(void **state)
{
	char header[1001], param[700], *json, *text = NULL;
	struct profile *in, **out = NULL;
	struct profile_text_error e;
	size_t n = 0;

	memset(header, 'h', sizeof(header) - 1);
	memcpy(header, "X-Long: a ;b", 12);
	header[sizeof(header) - 1] = '\0';
	memset(param, 'p', sizeof(param) - 1);
	param[sizeof(param) - 1] = '\0';
	assert_true(asprintf(&json, "{\"aor\": \"sip:a@example.org\", \"extra_headers\": [\"%s\"],"
			     " \"registrar\": {\"uri\": \"sip:example.org\", \"password\": "
			     "\" pw ; not a comment\"}, \"params\": [{\"name\": \"l\", \"value\": "
			     "[\"%s\", \"x ;y\"]}]}", header, param) > 0);
	in = profile_from(json);
	free(json);
	assert_int_equal(profile_text_export((const struct profile *const *)&in, 1, true,
					     &text), 0);
	if (profile_text_import(text, strlen(text), NULL, &out, &n, &e) != 0)
		fail_msg("line %u: %s", e.line, e.message);
	assert_int_equal(n, 1);
	assert_int_equal(profile_diff(in, out[0]), PROFILE_CHANGE_NONE);
	assert_string_equal(out[0]->extra_headers.v[0], header);
	assert_string_equal(out[0]->registrar.password, " pw ; not a comment");
	profile_text_free(out, n);
	explicit_bzero(text, strlen(text));
	free(text);
	profile_free(in);

	{
		static const char t[] = "\xef\xbb\xbf[profile]\n"
			"   aor = sip:a@example.org\n"
			"\tprovider_name = A ;B\n";

		assert_int_equal(profile_text_import(t, strlen(t), NULL, &out, &n, &e), 0);
		assert_int_equal(n, 1);
		assert_string_equal(out[0]->aor, "sip:a@example.org");
		assert_string_equal(out[0]->provider_name, "A ;B");
		profile_text_free(out, n);
	}
	{
		static const char t[] = "[profile]\naor: sip:a@example.org\n";

		assert_int_equal(profile_text_import(t, strlen(t), NULL, &out, &n, &e), -EINVAL);
		assert_int_equal(e.line, 2);
		assert_non_null(strstr(e.message, "expected 'key = value'"));
	}
	{
		static const char t[] = "[profile]\naor = sip:a@example.org\n[profile]\n[profile]\n";

		assert_int_equal(profile_text_import(t, strlen(t), NULL, &out, &n, &e), -EINVAL);
		assert_int_equal(e.line, 3);
		assert_non_null(strstr(e.message, "aor: is missing"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_export_form),
		cmocka_unit_test(test_import_forms),
		cmocka_unit_test(test_import_errors),
		cmocka_unit_test(test_inih_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
