/* libFuzzer target: arbitrary bytes as alrd.conf (docs/configuration.md).
 *
 * config_parse_string() is what config_load() runs on the file's bytes.
 * A file that parses is printed back (config_print(), what
 * `alrd --check-config` shows), which must parse again to the same
 * settings; kind rules are looked up as the IAP table does.  No global
 * state: each input gets a fresh struct config. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same(const struct config *a, const struct config *b)
{
	if (!str_eq(a->state_dir, b->state_dir) || !str_eq(a->plugin_dir, b->plugin_dir) ||
	    !str_eq(a->snap_dir, b->snap_dir) || a->log_level != b->log_level ||
	    a->log_target != b->log_target || a->max_profiles != b->max_profiles ||
	    !str_eq(a->socket_path, b->socket_path) || a->socket_mode != b->socket_mode ||
	    !str_eq(a->socket_group, b->socket_group) ||
	    a->n_control_groups != b->n_control_groups || a->read_access != b->read_access ||
	    a->max_clients != b->max_clients || a->max_request_size != b->max_request_size ||
	    a->max_output_queue != b->max_output_queue ||
	    a->netlink_rcvbuf != b->netlink_rcvbuf || a->networkmanager != b->networkmanager ||
	    a->register_rate != b->register_rate || a->register_burst != b->register_burst ||
	    a->n_kind_rules != b->n_kind_rules)
		return false;
	for (size_t i = 0; i < a->n_control_groups; i++)
		if (!str_eq(a->control_groups[i], b->control_groups[i]))
			return false;
	for (size_t i = 0; i < a->n_kind_rules; i++)
		if (!str_eq(a->kind_rules[i].pattern, b->kind_rules[i].pattern) ||
		    !str_eq(a->kind_rules[i].kind, b->kind_rules[i].kind))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL, *again = NULL;
	struct config_error e;
	char msg[600], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (config_parse_string("fuzz.conf", (const char *)data, size, &c, &e) < 0) {
		config_error_to_str(&e, msg, sizeof(msg));
		return 0;
	}
	config_kind_for(c, "wlan0");
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	config_print(c, f);
	fclose(f);
	if (config_parse_string("printed.conf", text, len, &again, &e) < 0) {
		fprintf(stderr, "printed configuration does not parse: %s\n%s",
			config_error_to_str(&e, msg, sizeof(msg)), text);
		abort();
	}
	if (!same(c, again)) {
		fprintf(stderr, "printed configuration parses to another one:\n%s", text);
		abort();
	}
	free(text);
	config_free(c);
	config_free(again);
	return 0;
}
