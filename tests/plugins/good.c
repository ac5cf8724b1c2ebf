/* A test plugin that loads: type other/test, every operation set, and
 * observable through its state report ("calls: ..."). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alr/plugin.h"

static const struct alr_plugin_host *host;
static unsigned int n_build, n_messages, n_deregistered;

static int good_init(const struct alr_plugin_host *h)
{
	host = h;
	return 0;
}

static void good_fini(void)
{
	host = NULL;
}

static void good_defaults(struct alr_profile_defaults *d)
{
	d->expires = 1234;
}

/* Refuses a provider named "refuse-me", to show a plugin's own check. */
static int good_validate(const struct alr_profile_info *p, struct alr_plugin_error *err)
{
	if (p->provider && strcmp(p->provider, "refuse-me") == 0) {
		snprintf(err->field, sizeof(err->field), "provider_name");
		snprintf(err->reason, sizeof(err->reason), "the test plugin refuses it");
		return -EINVAL;
	}
	return 0;
}

static int good_build(const struct alr_profile_info *p, struct alr_registration *reg,
		      struct alr_plugin_reg *handle)
{
	struct alr_header *h = host->scratch(handle, sizeof(*h));

	if (!h)
		return -ENOMEM;
	*h = (struct alr_header){ "X-Test-Plugin", "good" };
	reg->extra_headers = h;
	reg->n_extra_headers = 1;
	n_build++;
	return 0;
}

static void good_message(const struct alr_profile_info *p, const struct alr_sip_message *msg,
			 struct alr_plugin_reg *handle)
{
	static const char *const aors[] = { "sip:one@test.invalid", "sip:two@test.invalid" };

	n_messages++;
	if (host->message_status(msg) / 100 == 2)
		host->set_registered_aors(handle, aors, 2);
}

static void good_deregistered(const struct alr_profile_info *p, struct alr_plugin_reg *handle)
{
	n_deregistered++;
	host->set_registered_aors(handle, NULL, 0);
}

/* Any change of expires is major for this type (a plugin may ask for
 * more than the generic rule). */
static enum alr_update_kind good_classify(const struct alr_profile_info *old,
					  const struct alr_profile_info *new_)
{
	return old->expires != new_->expires ? ALR_UPDATE_MAJOR : ALR_UPDATE_NONE;
}

static void good_report(const struct alr_profile_info *p, struct alr_plugin_reg *handle,
			char *buf, size_t size)
{
	snprintf(buf, size, "calls: build %u, messages %u, deregistered %u", n_build,
		 n_messages, n_deregistered);
}

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.name = "test-good",
	.profile_class = ALR_PROFILE_CLASS_OTHER,
	.type_name = "test",
	.description = "test plugin",
	.capabilities = ALR_PLUGIN_NEEDS_REGISTRAR | ALR_PLUGIN_CAN_SIGCOMP,
	.init = good_init,
	.fini = good_fini,
	.defaults = good_defaults,
	.validate = good_validate,
	.build_registration = good_build,
	.handle_message = good_message,
	.deregistered = good_deregistered,
	.classify_update = good_classify,
	.state_report = good_report,
};
