/* Profile: validation of every field, JSON round trip, update classification. */
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

#include "alr/profile.h"
#include "daemon/profile-json.h"

#define BASE_PASSWORD "s3cret-Pa55"

static const char base_json[] =
	"{\"provider_name\": \"Example\", \"type\": \"ietf\","
	" \"aor\": \"sip:alice@example.org\","
	" \"registrar\": {\"uri\": \"sip:example.org\", \"transport\": \"udp\","
	"   \"digest_user\": \"alice\", \"realm\": \"example.org\","
	"   \"password\": \"" BASE_PASSWORD "\"}}";

/* The world as the daemon would describe it. */
static int lookup_type(void *ud, enum profile_class cls, const char *name, unsigned int *ret)
{
	if (cls == PROFILE_CLASS_IETF && strcmp(name, "ietf") == 0)
		*ret = 0;
	else if (cls == PROFILE_CLASS_IMS && strcmp(name, "ims") == 0)
		*ret = PROFILE_TYPE_NEEDS_REGISTRAR | PROFILE_TYPE_NEEDS_PRIVATE_IDENTITY |
		       PROFILE_TYPE_SIGCOMP | PROFILE_TYPE_SECURITY_NEGOTIATION;
	else if (cls == PROFILE_CLASS_OTHER && strcmp(name, "acme") == 0)
		*ret = PROFILE_TYPE_NEEDS_REGISTRAR;
	else
		return -ENOENT;
	return 0;
}

/* The acme plugin wants a "tenant" string parameter. */
static int plugin_validate(void *ud, const struct profile *p, struct profile_error *e)
{
	const struct profile_param *pp;

	if (p->type_class != PROFILE_CLASS_OTHER)
		return 0;
	pp = profile_params_find_name(&p->params, "tenant");
	if (!pp || pp->type != PROFILE_PARAM_STRING) {
		snprintf(e->field, sizeof(e->field), "params.tenant");
		snprintf(e->reason, sizeof(e->reason), "acme needs a tenant string");
		return -EINVAL;
	}
	return 0;
}

static bool snap_exists(void *ud, unsigned int id)
{
	return id == 1 || id == 2;
}

static bool iap_exists(void *ud, unsigned int id)
{
	return id == 5 || id == 6;
}

static const struct profile_validate_ctx ctx = {
	.lookup_type = lookup_type,
	.plugin_validate = plugin_validate,
	.snap_exists = snap_exists,
	.iap_exists = iap_exists,
};

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	if (!o)
		fail_msg("test JSON does not parse: %s", s);
	return o;
}

static struct profile *profile_from(const char *json)
{
	struct profile *p = profile_new();
	struct json_object *o = parse(json);
	struct profile_error e;

	assert_non_null(p);
	if (profile_apply_json(p, o, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	json_object_put(o);
	return p;
}

static struct profile *base(void)
{
	return profile_from(base_json);
}

static void apply_ok(struct profile *p, const char *json)
{
	struct json_object *o = parse(json);
	struct profile_error e;

	if (profile_apply_json(p, o, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	json_object_put(o);
}

static void test_base_is_valid(void **state)
{
	struct profile *p = base();
	struct profile_error e;

	if (profile_validate(p, &ctx, &e) != 0)
		fail_msg("base: %s: %s", e.field, e.reason);
	assert_int_equal(profile_validate(p, NULL, &e), 0);
	profile_free(p);
	assert_null(profile_free(NULL));
}

static void test_defaults(void **state)
{
	struct profile *p = profile_new();
	char buf[64];

	assert_int_equal(p->type_class, PROFILE_CLASS_IETF);
	assert_string_equal(profile_type_str(p, buf, sizeof(buf)), "ietf");
	assert_int_equal(p->bearer, PROFILE_BEARER_ANY);
	assert_int_equal(p->registrar.transport, PROFILE_TRANSPORT_AUTO);
	assert_int_equal(p->expires, PROFILE_EXPIRES_DEFAULT);
	assert_int_equal(p->dscp, 0);
	assert_false(p->auto_register);
	assert_false(p->is_default);
	assert_int_equal(p->snap_id, 0);
	assert_int_equal(p->iap_id, 0);
	assert_null(p->aor);
	profile_free(p);
}

static void test_enum_tables(void **state)
{
	for (int i = 0; i < _PROFILE_CLASS_MAX; i++)
		assert_int_equal(profile_class_from_str(profile_class_to_str(i)), i);
	for (int i = 0; i < _PROFILE_TRANSPORT_MAX; i++)
		assert_int_equal(profile_transport_from_str(profile_transport_to_str(i)), i);
	for (int i = 0; i < _PROFILE_BEARER_MAX; i++)
		assert_int_equal(profile_bearer_from_str(profile_bearer_to_str(i)), i);
	for (int i = 0; i < _PROFILE_PARAM_TYPE_MAX; i++)
		assert_int_equal(profile_param_type_from_str(profile_param_type_to_str(i)), i);
	assert_int_equal(profile_class_from_str("IETF"), -EINVAL);
	assert_int_equal(profile_transport_from_str("sctp"), -EINVAL);
	assert_int_equal(profile_bearer_from_str(NULL), -EINVAL);
	assert_string_equal(profile_change_to_str(PROFILE_CHANGE_MAJOR), "major");
	assert_string_equal(profile_param_type_to_str(PROFILE_PARAM_STRING_LIST), "string-list");
}

/* A change applied to the base profile (shapes fine) that validation refuses. */
struct bad_case {
	const char *patch;
	const char *field;
	const char *reason;             /* substring */
};

static void check_validate_cases(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct profile *p = base();
		struct profile_error e;
		int r;

		apply_ok(p, cases[i].patch);
		r = profile_validate(p, &ctx, &e);
		if (r != -EINVAL)
			fail_msg("%s: validation gave %d, want -EINVAL", cases[i].patch, r);
		if (strcmp(e.field, cases[i].field) != 0 || !strstr(e.reason, cases[i].reason))
			fail_msg("%s: got '%s: %s', want field '%s' with '%s'", cases[i].patch,
				 e.field, e.reason, cases[i].field, cases[i].reason);
		/* never a password in an error */
		assert_null(strstr(e.reason, BASE_PASSWORD));
		profile_free(p);
	}
}

static void test_validate_fields(void **state)
{
	static const struct bad_case cases[] = {
		/* type */
		{ "{\"type\": \"ietf/nosuch\"}", "type", "no plugin serves type 'ietf/nosuch'" },
		{ "{\"type\": \"other/zeta\"}", "type", "no plugin" },
		/* provider name */
		{ "{\"provider_name\": \"bell\\u0007\"}", "provider_name", "control character" },
		/* AOR */
		{ "{\"aor\": null}", "aor", "missing" },
		{ "{\"aor\": \"\"}", "aor", "missing" },
		{ "{\"aor\": \"sip:\"}", "aor", "'sip:' is not a valid SIP URI" },
		{ "{\"aor\": \"alice@example.org\"}", "aor", "not a valid SIP URI" },
		{ "{\"aor\": \"http://example.org/\"}", "aor", "scheme must be sip or sips" },
		{ "{\"aor\": \"tel:+4930123\"}", "aor", "scheme" },
		{ "{\"aor\": \"sip:alice:pw@example.org\"}", "aor", "password" },
		{ "{\"aor\": \"sip:alice@exa mple.org\"}", "aor", "space" },
		{ "{\"aor\": \"sip:@example.org\"}", "aor", "empty user" },
		{ "{\"aor\": \"sip:alice@example.org:99999\"}", "aor", "bad port" },
		{ "{\"aor\": \"sip:alice@example.org:0\"}", "aor", "bad port" },
		{ "{\"aor\": \"sip:alice@example.org:5x\"}", "aor", "bad port" },
		{ "{\"aor\": \"sip:alice@-bad.example.org\"}", "aor", "bad host" },
		{ "{\"aor\": \"sip:alice@a..b\"}", "aor", "bad host" },
		{ "{\"aor\": \"sip:alice@1.2.3\"}", "aor", "bad host" },
		{ "{\"aor\": \"sip:a@b@c\"}", "aor", "bad host" },
		{ "{\"aor\": \"sip:alice@[::1\"}", "aor", "SIP URI" },
		/* where to register */
		{ "{\"snap_id\": 1, \"iap_id\": 5}", "snap_id", "never both" },
		{ "{\"snap_id\": 9}", "snap_id", "no SNAP 9" },
		{ "{\"iap_id\": 9}", "iap_id", "no IAP 9" },
		/* registrar */
		{ "{\"registrar\": {\"uri\": \"sip:\"}}", "registrar.uri",
		  "'sip:' is not a valid SIP URI" },
		{ "{\"registrar\": {\"uri\": \"sip:bob@example.org\"}}", "registrar.uri",
		  "user part" },
		{ "{\"registrar\": {\"uri\": \"mailto:x@example.org\"}}", "registrar.uri", "scheme" },
		{ "{\"registrar\": {\"uri\": \"sips:example.org\", \"transport\": \"udp\"}}",
		  "registrar.transport", "needs TLS" },
		{ "{\"registrar\": {\"uri\": \"sips:example.org\", \"transport\": \"tcp\"}}",
		  "registrar.transport", "needs TLS" },
		{ "{\"registrar\": {\"uri\": \"sip:example.org;transport=TCP\", \"transport\": \"udp\"}}",
		  "registrar.transport", "contradicts transport=tcp" },
		{ "{\"registrar\": {\"realm\": \"ex\\u0001ample\"}}", "registrar.realm", "control" },
		{ "{\"registrar\": {\"ca_file\": \"ca.pem\"}}", "registrar.ca_file",
		  "not an absolute path" },
		{ "{\"outbound_proxy\": {\"ca_file\": \"/etc/ca\\n.pem\"}}", "outbound_proxy.ca_file",
		  "control" },
		{ "{\"registrar\": {\"digest_user\": \"al\\nice\"}}", "registrar.digest_user", "control" },
		{ "{\"registrar\": {\"password\": \"" BASE_PASSWORD "\\n\"}}", "registrar.password",
		  "control" },
		{ "{\"aor\": \"sip:example.org\", \"registrar\": {\"digest_user\": null}}",
		  "registrar.digest_user", "a password is set" },
		{ "{\"type\": \"other/acme\", \"registrar\": null, \"params\": "
		  "[{\"name\": \"tenant\", \"value\": \"t\"}]}", "registrar.uri",
		  "type 'other/acme' needs a registrar" },
		{ "{\"registrar\": {\"params\": [{\"name\": \"a\", \"value\": 1}, "
		  "{\"name\": \"a\", \"value\": 2}]}}", "registrar.params.a", "twice" },
		/* outbound proxy */
		{ "{\"outbound_proxy\": {\"uri\": \"tel:+1234\"}}", "outbound_proxy.uri", "scheme" },
		{ "{\"outbound_proxy\": {\"uri\": \"sip:proxy.example.org;transport=udp\", "
		  "\"transport\": \"tls\"}}", "outbound_proxy.transport", "contradicts" },
		{ "{\"outbound_proxy\": {\"password\": \"x\"}, \"aor\": \"sip:example.org\"}",
		  "outbound_proxy.digest_user", "missing" },
		{ "{\"outbound_proxy\": {\"params\": [{\"key\": 3, \"value\": \"\\u0005\"}]}}",
		  "outbound_proxy.params.#3", "control" },
		/* IMS */
		{ "{\"type\": \"ims\"}", "private_identity", "type 'ims' needs one" },
		{ "{\"private_identity\": \"nobody\"}", "private_identity", "user@realm" },
		{ "{\"private_identity\": \"@realm\"}", "private_identity", "user@realm" },
		{ "{\"private_identity\": \"a@b@c\"}", "private_identity", "user@realm" },
		{ "{\"private_identity\": \"a b@c\"}", "private_identity", "user@realm" },
		{ "{\"security_negotiation\": true}", "security_negotiation", "RFC 3329" },
		{ "{\"sigcomp\": true}", "sigcomp", "cannot do signalling compression" },
		/* contact parameters */
		{ "{\"contact_params\": [\"bad param\"]}", "contact_params[0]",
		  "not a header parameter" },
		{ "{\"contact_params\": [\"\"]}", "contact_params[0]", "not a header parameter" },
		{ "{\"contact_params\": [\"a=\"]}", "contact_params[0]", "not a header parameter" },
		{ "{\"contact_params\": [\"x=\\\"open\"]}", "contact_params[0]",
		  "not a header parameter" },
		{ "{\"contact_params\": [\"x=\\\"a\\\"b\"]}", "contact_params[0]",
		  "not a header parameter" },
		{ "{\"contact_params\": [\"x=[::g]\"]}", "contact_params[0]", "not a header parameter" },
		{ "{\"contact_params\": [\"Expires=30\"]}", "contact_params[0]", "expires member" },
		{ "{\"contact_params\": [\"a=1\", \"A=2\"]}", "contact_params[1]", "twice" },
		/* extra headers */
		{ "{\"extra_headers\": [\"NoColon\"]}", "extra_headers[0]", "Name: value" },
		{ "{\"extra_headers\": [\"Bad Name: x\"]}", "extra_headers[0]", "bad name" },
		{ "{\"extra_headers\": [\": x\"]}", "extra_headers[0]", "bad name" },
		{ "{\"extra_headers\": [\"Contact: <sip:x@y>\"]}", "extra_headers[0]", "itself" },
		{ "{\"extra_headers\": [\"X-A: 1\", \"m: <sip:x@y>\"]}", "extra_headers[1]", "itself" },
		{ "{\"extra_headers\": [\"CALL-ID: 1\"]}", "extra_headers[0]", "itself" },
		{ "{\"extra_headers\": [\"X-Empty:   \"]}", "extra_headers[0]", "empty value" },
		{ "{\"extra_headers\": [\"X-A: a\\r\\nVia: x\"]}", "extra_headers[0]", "control" },
		/* numbers */
		{ "{\"expires\": 10}", "expires", "out of range" },
		{ "{\"expires\": 0}", "expires", "out of range" },
		{ "{\"expires\": 3000000000}", "expires", "out of range" },
		{ "{\"dscp\": 64}", "dscp", "out of range" },
		/* extension parameters */
		{ "{\"params\": [{\"name\": \"x\", \"value\": 1}, {\"name\": \"x\", \"value\": true}]}",
		  "params.x", "twice" },
		{ "{\"params\": [{\"key\": 7, \"value\": 1}, {\"key\": 7, \"value\": 2}]}",
		  "params.#7", "twice" },
		{ "{\"params\": [{\"key\": 7, \"value\": \"a\\u0002\"}]}", "params.#7", "control" },
		{ "{\"params\": [{\"name\": \"l\", \"value\": [\"ok\", \"bad\\u0003\"]}]}",
		  "params.l[1]", "control" },
		/* the plugin's own check */
		{ "{\"type\": \"other/acme\"}", "params.tenant", "acme needs a tenant" },
	};

	check_validate_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Checks that JSON cannot reach: set the struct directly. */
static void test_validate_direct(void **state)
{
	struct profile *p;
	struct profile_error e;
	char *big;

	/* invalid UTF-8 (a file or the store could hold it) */
	p = base();
	profile_set_string(&p->provider_name, "caf\xc3", false);
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "provider_name");
	assert_non_null(strstr(e.reason, "UTF-8"));
	profile_set_string(&p->provider_name, "\xc0\xaf", false);   /* overlong '/' */
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	profile_set_string(&p->provider_name, "\xed\xa0\x80", false); /* surrogate */
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	profile_set_string(&p->provider_name, "caf\xc3\xa9 \xf0\x9f\x93\x9e", false);
	assert_int_equal(profile_validate(p, &ctx, &e), 0);
	profile_free(p);

	/* too long */
	p = base();
	big = malloc(PROFILE_MAX_STRING + 2);
	memset(big, 'a', PROFILE_MAX_STRING + 1);
	big[PROFILE_MAX_STRING + 1] = '\0';
	profile_set_string(&p->provider_name, big, false);
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "provider_name");
	assert_non_null(strstr(e.reason, "at most 1024"));
	free(big);
	profile_free(p);

	/* too many list entries, parameters, items */
	p = base();
	for (int i = 0; i <= PROFILE_MAX_LIST; i++) {
		char h[32];

		snprintf(h, sizeof(h), "X-H%d: v", i);
		profile_strv_push(&p->extra_headers, h);
	}
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "extra_headers");
	profile_free(p);

	p = base();
	for (int i = 0; i <= PROFILE_MAX_PARAMS; i++) {
		struct profile_param *pp = profile_params_add(&p->params);

		pp->key = (uint32_t)i;
		pp->type = PROFILE_PARAM_INT;
	}
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "params");
	profile_free(p);

	p = base();
	{
		struct profile_param *pp = profile_params_add(&p->params);

		pp->name = strdup("many");
		pp->type = PROFILE_PARAM_STRING_LIST;
		for (int i = 0; i <= PROFILE_MAX_PARAM_ITEMS; i++)
			profile_strv_push(&pp->value.list, "x");
	}
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "params.many");
	profile_free(p);

	/* a bad parameter name */
	p = base();
	{
		struct profile_param *pp = profile_params_add(&p->params);

		pp->name = strdup("no spaces");
		pp->type = PROFILE_PARAM_BOOL;
	}
	assert_int_equal(profile_validate(p, &ctx, &e), -EINVAL);
	assert_string_equal(e.field, "params[0].name");
	profile_free(p);
}

/* What validates: the edges of each rule. */
static void test_validate_accepts(void **state)
{
	static const char *const good[] = {
		"{\"aor\": \"sips:alice@example.org\"}",
		"{\"aor\": \"sip:alice@192.0.2.7:5070;user=phone\"}",
		"{\"aor\": \"sip:alice@[2001:db8::1]:5060\"}",
		"{\"aor\": \"sip:example.org\", \"registrar\": {\"password\": null}}",
		"{\"aor\": \"sip:example.org\", \"private_identity\": \"alice@ims.example.org\","
		" \"registrar\": {\"digest_user\": null}}",
		"{\"snap_id\": 2}",
		"{\"iap_id\": 6, \"bearer\": \"cellular\"}",
		"{\"snap_id\": null, \"iap_id\": null}",
		"{\"registrar\": {\"uri\": \"sips:example.org\", \"transport\": \"tls\"}}",
		"{\"registrar\": {\"uri\": \"sips:example.org\", \"transport\": \"auto\"}}",
		"{\"registrar\": {\"uri\": \"sip:example.org;transport=tcp\", \"transport\": \"tcp\"}}",
		"{\"registrar\": {\"uri\": null}}",
		"{\"outbound_proxy\": {\"uri\": \"sip:proxy@example.org;lr\"}, \"proxy_from_dhcp\": true}",
		"{\"type\": \"ims\", \"private_identity\": \"alice@ims.example.org\","
		" \"security_negotiation\": true, \"sigcomp\": true}",
		"{\"type\": \"other/acme\", \"params\": [{\"name\": \"tenant\", \"value\": \"t1\"}]}",
		"{\"contact_params\": [\"+sip.instance=\\\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\\\"\","
		" \"audio\", \"q=0.5\", \"received=[2001:db8::9]\", \"x=\\\"a\\\\\\\"b\\\"\"]}",
		"{\"extra_headers\": [\"X-Device: phone 1\", \"User-Agent:alrd\", \"Supported: path\"]}",
		"{\"expires\": 30}",
		"{\"expires\": 2147483647}",
		"{\"dscp\": 63, \"locked\": true, \"auto_register\": true, \"default\": true}",
		"{\"params\": [{\"name\": \"n\", \"value\": -9223372036854775807},"
		" {\"key\": 4294967295, \"value\": false}, {\"name\": \"s\", \"value\": \"\"},"
		" {\"name\": \"l\", \"value\": []}]}",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct profile *p = base();
		struct profile_error e;

		apply_ok(p, good[i]);
		if (profile_validate(p, &ctx, &e) != 0)
			fail_msg("%s: %s: %s", good[i], e.field, e.reason);
		profile_free(p);
	}
}

/* Shapes refused by profile_apply_json(), which then leaves the profile as it was. */
static void test_apply_refuses(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"id\": 3}", "id", "read-only" },
		{ "{\"registered_aors\": []}", "registered_aors", "read-only" },
		{ "{\"registered_contact\": null}", "registered_contact", "read-only" },
		{ "{\"registrar\": {\"password_set\": true}}", "registrar.password_set", "read-only" },
		{ "{\"nosuch\": 1}", "nosuch", "unknown member" },
		{ "{\"registrar\": {\"nosuch\": 1}}", "registrar.nosuch", "unknown member" },
		{ "{\"type\": \"weird\"}", "type", "not a profile type" },
		{ "{\"type\": \"ietf/\"}", "type", "not a profile type" },
		{ "{\"type\": \"ietf/a b\"}", "type", "not a profile type" },
		{ "{\"type\": \"other\"}", "type", "needs a type name" },
		{ "{\"type\": 5}", "type", "must be a string, not an integer" },
		{ "{\"type\": null}", "type", "must be a string, not null" },
		{ "{\"bearer\": \"satellite\"}", "bearer", "'satellite' is not one of any, wifi, cellular" },
		{ "{\"registrar\": {\"transport\": \"sctp\"}}", "registrar.transport", "not one of" },
		{ "{\"iap_id\": 0}", "iap_id", "not an IAP id" },
		{ "{\"snap_id\": -1}", "snap_id", "out of range" },
		{ "{\"iap_id\": 4294967296}", "iap_id", "out of range" },
		{ "{\"iap_id\": \"5\"}", "iap_id", "must be an integer, not a string" },
		{ "{\"expires\": 1.5}", "expires", "must be an integer, not a fraction" },
		{ "{\"expires\": 4294967296}", "expires", "out of range" },
		{ "{\"expires\": 99999999999999999999}", "expires", "out of range" },
		{ "{\"dscp\": -1}", "dscp", "out of range" },
		{ "{\"auto_register\": \"yes\"}", "auto_register", "true or false" },
		{ "{\"default\": 1}", "default", "true or false" },
		{ "{\"locked\": null}", "locked", "true or false" },
		{ "{\"proxy_from_dhcp\": 1}", "proxy_from_dhcp", "true or false" },
		{ "{\"security_negotiation\": \"on\"}", "security_negotiation", "true or false" },
		{ "{\"sigcomp\": []}", "sigcomp", "true or false, not an array" },
		{ "{\"provider_name\": 5}", "provider_name", "must be a string" },
		{ "{\"private_identity\": {}}", "private_identity", "must be a string, not an object" },
		{ "{\"registrar\": {\"digest_user\": true}}", "registrar.digest_user", "must be a string" },
		{ "{\"outbound_proxy\": {\"realm\": 1}}", "outbound_proxy.realm", "must be a string" },
		{ "{\"contact_params\": \"x\"}", "contact_params", "array of strings" },
		{ "{\"contact_params\": [1]}", "contact_params[0]", "must be a string" },
		{ "{\"extra_headers\": [\"X-A: 1\", null]}", "extra_headers[1]", "must be a string" },
		{ "{\"registrar\": \"sip:x\"}", "registrar", "must be an object" },
		{ "{\"registrar\": {\"uri\": 7}}", "registrar.uri", "must be a string" },
		{ "{\"registrar\": {\"password\": false}}", "registrar.password", "must be a string" },
		{ "{\"aor\": \"sip:a\\u0000@example.org\"}", "aor", "NUL" },
		{ "{\"params\": {}}", "params", "array of parameter objects" },
		{ "{\"params\": [3]}", "params[0]", "must be an object" },
		{ "{\"params\": [{\"value\": 1}]}", "params[0]", "exactly one of name and key" },
		{ "{\"params\": [{\"name\": \"a\", \"key\": 1, \"value\": 1}]}", "params[0]",
		  "exactly one of name and key" },
		{ "{\"params\": [{\"name\": \"bad name\", \"value\": 1}]}", "params[0].name",
		  "not a parameter name" },
		{ "{\"params\": [{\"name\": \"\", \"value\": 1}]}", "params[0].name",
		  "not a parameter name" },
		{ "{\"params\": [{\"name\": 4, \"value\": 1}]}", "params[0].name", "must be a string" },
		{ "{\"params\": [{\"name\": \"a\"}]}", "params[0].value", "missing" },
		{ "{\"params\": [{\"name\": \"a\", \"value\": null}]}", "params[0].value", "missing" },
		{ "{\"params\": [{\"name\": \"a\", \"type\": \"float\", \"value\": 1}]}",
		  "params[0].type", "not one of int, bool, string, string-list" },
		{ "{\"params\": [{\"name\": \"a\", \"type\": \"bool\", \"value\": 1}]}",
		  "params[0].value", "true or false" },
		{ "{\"params\": [{\"name\": \"a\", \"type\": \"int\", \"value\": \"1\"}]}",
		  "params[0].value", "must be an integer" },
		{ "{\"params\": [{\"name\": \"a\", \"type\": \"string\", \"value\": []}]}",
		  "params[0].value", "must be a string" },
		{ "{\"params\": [{\"name\": \"a\", \"type\": \"string-list\", \"value\": \"x\"}]}",
		  "params[0].value", "array of strings" },
		{ "{\"params\": [{\"name\": \"a\", \"value\": [\"x\", 1]}]}", "params[0].value[1]",
		  "must be a string" },
		{ "{\"params\": [{\"name\": \"a\", \"value\": 1.5}]}", "params[0].value",
		  "not a fraction" },
		{ "{\"params\": [{\"name\": \"a\", \"value\": {}}]}", "params[0].value",
		  "not an object" },
		{ "{\"params\": [{\"key\": 4294967296, \"value\": 1}]}", "params[0].key", "out of range" },
		{ "{\"params\": [{\"key\": -1, \"value\": 1}]}", "params[0].key", "out of range" },
		{ "{\"params\": [{\"name\": \"a\", \"value\": 1, \"extra\": 2}]}", "params[0].extra",
		  "unknown member" },
		{ "{\"registrar\": {\"params\": [{\"name\": \"a\"}]}}", "registrar.params[0].value",
		  "missing" },
		{ "{\"provider_name\": \"changed\", \"nosuch\": 1}", "nosuch", "unknown member" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct profile *p = base(), *before = profile_dup(p);
		struct json_object *o = parse(cases[i].patch);
		struct profile_error e;
		int r = profile_apply_json(p, o, &e);

		if (r != -EINVAL)
			fail_msg("%s: apply gave %d, want -EINVAL", cases[i].patch, r);
		if (strcmp(e.field, cases[i].field) != 0 || !strstr(e.reason, cases[i].reason))
			fail_msg("%s: got '%s: %s', want field '%s' with '%s'", cases[i].patch,
				 e.field, e.reason, cases[i].field, cases[i].reason);
		/* all or nothing */
		assert_int_equal(profile_diff(before, p), PROFILE_CHANGE_NONE);
		assert_string_equal(p->provider_name, "Example");
		json_object_put(o);
		profile_free(p);
		profile_free(before);
	}
	{
		struct profile *p = base();
		struct json_object *o = parse("[1]");
		struct profile_error e;

		assert_int_equal(profile_apply_json(p, o, &e), -EINVAL);
		json_object_put(o);
		profile_free(p);
	}
}

static const char full_json[] =
	"{\"provider_name\": \"Example \\\"Voice\\\"\", \"type\": \"ims\","
	" \"aor\": \"sip:+4930123@ims.example.org\","
	" \"snap_id\": 2, \"bearer\": \"wifi\","
	" \"registrar\": {\"uri\": \"sip:scscf.example.org;transport=tcp\", \"transport\": \"tcp\","
	"   \"digest_user\": \"alice@ims.example.org\", \"realm\": \"ims.example.org\","
	"   \"password\": \"" BASE_PASSWORD "\","
	"   \"params\": [{\"name\": \"auth\", \"value\": \"aka\"}, {\"key\": 12, \"value\": 3}]},"
	" \"outbound_proxy\": {\"uri\": \"sip:pcscf.example.org;lr\", \"transport\": \"auto\","
	"   \"digest_user\": \"proxyuser\", \"password\": \"proxy-pw\","
	"   \"params\": [{\"name\": \"keepalive\", \"type\": \"bool\", \"value\": true}]},"
	" \"proxy_from_dhcp\": true, \"auto_register\": true, \"default\": true,"
	" \"private_identity\": \"alice@ims.example.org\", \"security_negotiation\": true,"
	" \"sigcomp\": true,"
	" \"contact_params\": [\"+g.3gpp.icsi-ref=\\\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\\\"\", \"video\"],"
	" \"extra_headers\": [\"P-Access-Network-Info: IEEE-802.11\", \"X-Extra: \\u00e9t\\u00e9\"],"
	" \"expires\": 600000, \"dscp\": 26, \"locked\": true,"
	" \"params\": [{\"name\": \"count\", \"type\": \"int\", \"value\": -42},"
	"   {\"name\": \"flag\", \"value\": false},"
	"   {\"name\": \"label\", \"type\": \"string\", \"value\": \"a \\\"q\\\" \\\\ b\"},"
	"   {\"key\": 70000, \"type\": \"string-list\", \"value\": [\"one\", \"\", \"three\"]},"
	"   {\"key\": 0, \"value\": 9223372036854775807}]}";

/* Remove what apply refuses (read-only) from an exported object. */
static void strip_read_only(struct json_object *o)
{
	struct json_object *sv;

	json_object_object_del(o, "id");
	json_object_object_del(o, "registered_aors");
	json_object_object_del(o, "registered_contact");
	json_object_object_del(o, "local_password_set");
	if (json_object_object_get_ex(o, "registrar", &sv))
		json_object_object_del(sv, "password_set");
	if (json_object_object_get_ex(o, "outbound_proxy", &sv))
		json_object_object_del(sv, "password_set");
}

static void test_json_round_trip(void **state)
{
	struct profile *p = profile_from(full_json), *q;
	struct json_object *o, *sv, *m;
	const char *text;
	struct profile_error e;
	const struct profile_param *pp;

	if (profile_validate(p, &ctx, &e) != 0)
		fail_msg("full: %s: %s", e.field, e.reason);
	p->id = 17;

	/* every parameter type, by name and by key */
	pp = profile_params_find_name(&p->params, "count");
	assert_non_null(pp);
	assert_int_equal(pp->type, PROFILE_PARAM_INT);
	assert_true(pp->value.i == -42);
	pp = profile_params_find_key(&p->params, 70000);
	assert_non_null(pp);
	assert_int_equal(pp->type, PROFILE_PARAM_STRING_LIST);
	assert_int_equal(pp->value.list.n, 3);
	assert_string_equal(pp->value.list.v[1], "");
	pp = profile_params_find_key(&p->params, 0);
	assert_true(pp && pp->value.i == INT64_MAX);
	pp = profile_params_find_name(&p->outbound_proxy.params, "keepalive");
	assert_true(pp && pp->type == PROFILE_PARAM_BOOL && pp->value.b);
	assert_null(profile_params_find_name(&p->params, "absent"));
	assert_null(profile_params_find_key(&p->params, 12));  /* that one is the registrar's */

	/* without secrets: no password anywhere, password_set instead */
	o = profile_to_json(p, false);
	text = json_object_to_json_string(o);
	assert_null(strstr(text, BASE_PASSWORD));
	assert_null(strstr(text, "proxy-pw"));
	assert_null(strstr(text, "\"password\""));
	assert_true(json_object_object_get_ex(o, "registrar", &sv));
	assert_true(json_object_object_get_ex(sv, "password_set", &m));
	assert_true(json_object_get_boolean(m));
	assert_true(json_object_object_get_ex(o, "id", &m));
	assert_int_equal(json_object_get_int(m), 17);
	assert_true(json_object_object_get_ex(o, "type", &m));
	assert_string_equal(json_object_get_string(m), "ims");

	/* back in: everything but the passwords */
	strip_read_only(o);
	q = profile_new();
	if (profile_apply_json(q, o, &e) != 0)
		fail_msg("round trip: %s: %s", e.field, e.reason);
	assert_null(q->registrar.password);
	assert_int_equal(profile_diff(p, q), PROFILE_CHANGE_MINOR);
	profile_set_string(&q->registrar.password, BASE_PASSWORD, true);
	profile_set_string(&q->outbound_proxy.password, "proxy-pw", true);
	assert_int_equal(profile_diff(p, q), PROFILE_CHANGE_NONE);
	json_object_put(o);
	profile_free(q);

	/* with secrets: identical */
	o = profile_to_json(p, true);
	assert_non_null(strstr(json_object_to_json_string(o), BASE_PASSWORD));
	strip_read_only(o);
	q = profile_new();
	assert_int_equal(profile_apply_json(q, o, &e), 0);
	assert_int_equal(profile_diff(p, q), PROFILE_CHANGE_NONE);
	/* and the same JSON again */
	{
		struct json_object *o2 = profile_to_json(q, true);

		strip_read_only(o2);
		assert_string_equal(json_object_to_json_string(o), json_object_to_json_string(o2));
		json_object_put(o2);
	}
	json_object_put(o);
	profile_free(q);

	/* dup is deep and equal */
	q = profile_dup(p);
	assert_non_null(q);
	assert_ptr_not_equal(q->registrar.password, p->registrar.password);
	assert_int_equal(profile_diff(p, q), PROFILE_CHANGE_NONE);
	assert_int_equal(q->id, 17);
	profile_free(q);
	profile_free(p);
}

static void test_passwords(void **state)
{
	struct profile *p = base();
	struct json_object *o, *sv, *m;

	/* empty keeps */
	apply_ok(p, "{\"registrar\": {\"password\": \"\"}}");
	assert_string_equal(p->registrar.password, BASE_PASSWORD);
	/* an update of other members keeps it too */
	apply_ok(p, "{\"registrar\": {\"realm\": \"other.example.org\"}}");
	assert_string_equal(p->registrar.password, BASE_PASSWORD);
	/* a new one replaces */
	apply_ok(p, "{\"registrar\": {\"password\": \"new-one\"}}");
	assert_string_equal(p->registrar.password, "new-one");
	/* null clears */
	apply_ok(p, "{\"registrar\": {\"password\": null}}");
	assert_null(p->registrar.password);
	o = profile_to_json(p, true);
	assert_true(json_object_object_get_ex(o, "registrar", &sv));
	assert_true(json_object_object_get_ex(sv, "password_set", &m));
	assert_false(json_object_get_boolean(m));
	assert_false(json_object_object_get_ex(sv, "password", &m));
	json_object_put(o);
	/* a null server forgets everything */
	apply_ok(p, "{\"registrar\": {\"password\": \"x\"}}");
	apply_ok(p, "{\"registrar\": null}");
	assert_null(p->registrar.password);
	assert_null(p->registrar.uri);
	assert_int_equal(p->registrar.transport, PROFILE_TRANSPORT_AUTO);
	profile_free(p);
}

static void test_partial_update_and_read_only_state(void **state)
{
	struct profile *p = base();
	struct json_object *o, *m;
	const char *aors[] = { "sip:alice@example.org", "tel:+4930123" };

	apply_ok(p, "{\"snap_id\": 2}");
	assert_int_equal(p->snap_id, 2);
	assert_string_equal(p->aor, "sip:alice@example.org");
	/* moving to an IAP means clearing the SNAP in the same update */
	apply_ok(p, "{\"snap_id\": null, \"iap_id\": 5}");
	assert_int_equal(p->snap_id, 0);
	assert_int_equal(p->iap_id, 5);
	apply_ok(p, "{\"provider_name\": \"\"}");
	assert_null(p->provider_name);
	apply_ok(p, "{\"type\": \"other/acme\"}");
	assert_int_equal(p->type_class, PROFILE_CLASS_OTHER);
	assert_string_equal(p->type_name, "acme");
	apply_ok(p, "{\"type\": \"ietf/variant\"}");
	assert_int_equal(p->type_class, PROFILE_CLASS_IETF);
	assert_string_equal(p->type_name, "variant");

	/* registration state, set by plugins, shown but not settable */
	assert_int_equal(profile_set_registered(p, aors, 2, "sip:alice@192.0.2.1:5060"), 0);
	o = profile_to_json(p, false);
	assert_true(json_object_object_get_ex(o, "registered_aors", &m));
	assert_int_equal(json_object_array_length(m), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(m, 1)), "tel:+4930123");
	assert_true(json_object_object_get_ex(o, "registered_contact", &m));
	assert_string_equal(json_object_get_string(m), "sip:alice@192.0.2.1:5060");
	assert_true(json_object_object_get_ex(o, "iap_id", &m));
	assert_int_equal(json_object_get_int(m), 5);
	assert_true(json_object_object_get_ex(o, "snap_id", &m));
	assert_null(m);
	json_object_put(o);
	/* back on a SNAP: the default is SNAP 0, shown as 0 */
	apply_ok(p, "{\"iap_id\": null, \"snap_id\": 0}");
	assert_int_equal(p->snap_id, 0);
	assert_int_equal(p->iap_id, 0);
	o = profile_to_json(p, false);
	assert_true(json_object_object_get_ex(o, "snap_id", &m));
	assert_non_null(m);
	assert_int_equal(json_object_get_int(m), 0);
	assert_true(json_object_object_get_ex(o, "iap_id", &m));
	assert_null(m);
	assert_true(json_object_object_get_ex(o, "type", &m));
	assert_string_equal(json_object_get_string(m), "ietf/variant");
	json_object_put(o);
	profile_free(p);
}

static void test_diff_classification(void **state)
{
	static const struct {
		const char *patch;
		enum profile_change want;
	} cases[] = {
		{ "{}", PROFILE_CHANGE_NONE },
		{ "{\"provider_name\": \"Example\"}", PROFILE_CHANGE_NONE },
		{ "{\"registrar\": {\"password\": \"\"}}", PROFILE_CHANGE_NONE },
		/* minor: a re-REGISTER */
		{ "{\"provider_name\": \"New name\"}", PROFILE_CHANGE_MINOR },
		{ "{\"contact_params\": [\"video\"]}", PROFILE_CHANGE_MINOR },
		{ "{\"registrar\": {\"params\": [{\"name\": \"a\", \"value\": 1}]}}", PROFILE_CHANGE_MINOR },
		{ "{\"outbound_proxy\": {\"params\": [{\"key\": 1, \"value\": 1}]}}", PROFILE_CHANGE_MINOR },
		{ "{\"auto_register\": true}", PROFILE_CHANGE_MINOR },
		{ "{\"default\": true}", PROFILE_CHANGE_MINOR },
		{ "{\"extra_headers\": [\"X-A: 1\"]}", PROFILE_CHANGE_MINOR },
		{ "{\"expires\": 600}", PROFILE_CHANGE_MINOR },
		{ "{\"dscp\": 26}", PROFILE_CHANGE_MINOR },
		{ "{\"locked\": true}", PROFILE_CHANGE_MINOR },
		{ "{\"params\": [{\"name\": \"x\", \"value\": \"y\"}]}", PROFILE_CHANGE_MINOR },
		{ "{\"registrar\": {\"password\": \"other\"}}", PROFILE_CHANGE_MINOR },
		{ "{\"registrar\": {\"digest_user\": \"bob\"}}", PROFILE_CHANGE_MINOR },
		{ "{\"registrar\": {\"realm\": null}}", PROFILE_CHANGE_MINOR },
		/* major: deregister, then register */
		{ "{\"aor\": \"sip:bob@example.org\"}", PROFILE_CHANGE_MAJOR },
		{ "{\"registrar\": {\"uri\": \"sip:other.example.org\"}}", PROFILE_CHANGE_MAJOR },
		{ "{\"registrar\": {\"transport\": \"tcp\"}}", PROFILE_CHANGE_MAJOR },
		{ "{\"outbound_proxy\": {\"uri\": \"sip:proxy.example.org\"}}", PROFILE_CHANGE_MAJOR },
		{ "{\"outbound_proxy\": {\"transport\": \"tls\"}}", PROFILE_CHANGE_MAJOR },
		{ "{\"registrar\": {\"ca_file\": \"/etc/alrd/ca.pem\"}}", PROFILE_CHANGE_MAJOR },
		{ "{\"proxy_from_dhcp\": true}", PROFILE_CHANGE_MAJOR },
		{ "{\"snap_id\": 2}", PROFILE_CHANGE_MAJOR },
		{ "{\"iap_id\": 5}", PROFILE_CHANGE_MAJOR },
		{ "{\"bearer\": \"wifi\"}", PROFILE_CHANGE_MAJOR },
		{ "{\"type\": \"ims\"}", PROFILE_CHANGE_MAJOR },
		{ "{\"type\": \"ietf/variant\"}", PROFILE_CHANGE_MAJOR },
		{ "{\"private_identity\": \"alice@example.org\"}", PROFILE_CHANGE_MAJOR },
		{ "{\"security_negotiation\": true}", PROFILE_CHANGE_MAJOR },
		{ "{\"sigcomp\": true}", PROFILE_CHANGE_MAJOR },
		/* major wins over minor */
		{ "{\"provider_name\": \"x\", \"aor\": \"sip:bob@example.org\"}", PROFILE_CHANGE_MAJOR },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct profile *a = base(), *b = base();
		enum profile_change got;

		b->id = 99;                     /* ids are not configuration */
		apply_ok(b, cases[i].patch);
		got = profile_diff(a, b);
		if (got != cases[i].want)
			fail_msg("%s: %s, want %s", cases[i].patch, profile_change_to_str(got),
				 profile_change_to_str(cases[i].want));
		assert_int_equal(profile_diff(b, a), got);      /* symmetric */
		profile_free(a);
		profile_free(b);
	}
	/* registration state is not configuration either */
	{
		struct profile *a = base(), *b = base();
		const char *aor = "sip:alice@example.org";

		profile_set_registered(b, &aor, 1, "sip:alice@192.0.2.1");
		assert_int_equal(profile_diff(a, b), PROFILE_CHANGE_NONE);
		profile_free(a);
		profile_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_is_valid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_enum_tables),
		cmocka_unit_test(test_validate_fields),
		cmocka_unit_test(test_validate_direct),
		cmocka_unit_test(test_validate_accepts),
		cmocka_unit_test(test_apply_refuses),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_partial_update_and_read_only_state),
		cmocka_unit_test(test_diff_classification),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
