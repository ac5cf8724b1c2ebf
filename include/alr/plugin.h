/**
 * @file alr/plugin.h
 * @brief Profile agent plugins: how alrd registers one type of profile.
 *
 * A plugin is a shared object in alrd's plugin directory
 * (`$libdir/alrd/plugins`, `plugin-dir` in alrd.conf) exporting one symbol,
 * #ALR_PLUGIN_SYMBOL, a `const struct alr_plugin`.  alrd loads every
 * `*.so` there at start with `dlopen(RTLD_NOW)`; a directory or file that
 * others may write is refused, and so is a plugin whose `api_version` is
 * not #ALR_PLUGIN_API_VERSION.  One plugin serves one profile type
 * (`type_name`, e.g. "ietf", "ims", "other/acme").
 *
 * The division of labour: alrd owns the profile (store, validation of the
 * common fields, events), the choice of IAP (SNAPs, roaming) and the SIP
 * machinery (transports, transactions, digest, refresh, backoff).  The
 * plugin says what a registration of its type looks like: which
 * parameters and headers the REGISTER carries, what a successful response
 * means (e.g. IMS's P-Associated-URI), whether an update needs a new
 * registration, and which extra fields its profiles need.
 *
 * Every call into a plugin happens on alrd's one thread, from its event
 * loop; a plugin must not block.  Strings handed to a plugin are valid
 * during the call only.  Plugins never see passwords in a log line: the
 * host's log function is the only one they should use, and it is their
 * duty not to pass secrets to it.
 */
#ifndef ALR_PLUGIN_H
#define ALR_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The interface version this header describes. */
#define ALR_PLUGIN_API_VERSION 1
/** The name of the one symbol a plugin exports. */
#define ALR_PLUGIN_SYMBOL "alr_plugin_descriptor"

/** Export a plugin descriptor: `ALR_PLUGIN_EXPORT(struct alr_plugin) = {...};` */
#define ALR_PLUGIN_EXPORT \
	__attribute__((visibility("default"))) const struct alr_plugin alr_plugin_descriptor

/** Profile classes (the first half of a profile's type). */
enum alr_profile_class {
	ALR_PROFILE_CLASS_IETF,
	ALR_PROFILE_CLASS_IMS,
	ALR_PROFILE_CLASS_OTHER,
};

/** One header: name and value, no CR/LF. */
struct alr_header {
	const char *name;
	const char *value;
};

/** A typed extension parameter of a profile or server. */
enum alr_param_type {
	ALR_PARAM_INT,
	ALR_PARAM_BOOL,
	ALR_PARAM_STRING,
	ALR_PARAM_STRING_LIST,
};

struct alr_param {
	const char *name;               /**< name, or NULL when keyed by number */
	unsigned int key;               /**< numeric key when name is NULL */
	enum alr_param_type type;
	long long int_value;            /**< ALR_PARAM_INT, ALR_PARAM_BOOL (0/1) */
	const char *string_value;       /**< ALR_PARAM_STRING */
	const char *const *list;        /**< ALR_PARAM_STRING_LIST */
	size_t n_list;
};

/** A SIP server of a profile (registrar or outbound proxy). */
struct alr_server_info {
	const char *uri;                /**< NULL when not configured */
	const char *transport;          /**< "auto", "udp", "tcp", "tls" */
	const char *username;           /**< digest user name or NULL */
	const char *realm;              /**< or NULL: any */
	bool has_password;              /**< the password itself is not shown */
	const struct alr_param *params;
	size_t n_params;
};

/** What a plugin sees of a profile: read-only, valid during the call. */
struct alr_profile_info {
	unsigned int id;
	const char *provider;
	enum alr_profile_class profile_class;
	const char *type_name;          /**< "ietf", "ims", "other/acme" */
	const char *aor;                /**< the user's AOR */
	const char *private_identity;   /**< IMS IMPI or NULL */
	struct alr_server_info registrar;
	struct alr_server_info proxy;
	bool discover_proxy;            /**< DHCP (RFC 3361) */
	bool security_negotiation;      /**< RFC 3329 */
	bool sigcomp;
	unsigned int expires;           /**< requested, seconds */
	const char *const *contact_params;
	size_t n_contact_params;
	const struct alr_header *extra_headers;
	size_t n_extra_headers;
	const struct alr_param *params; /**< the profile's extension parameters */
	size_t n_params;
};

/**
 * A registration as the plugin wants it made.  The host starts with the
 * profile's own values (AOR, servers, credentials, expiry, contact
 * parameters, extra headers) and lets the plugin change or add to them;
 * everything is copied by the host.
 */
struct alr_registration {
	const char *aor;
	const char *registrar;          /**< Request-URI */
	const char *outbound_proxy;     /**< or NULL */
	unsigned int expires;
	const char *const *contact_params;
	size_t n_contact_params;
	const struct alr_header *extra_headers;
	size_t n_extra_headers;
};

/** A SIP response alrd received for a plugin's registration. */
struct alr_sip_response;

/** A plugin's error: the field concerned (profile JSON member name, e.g.
 * "registrar.uri") and why. */
struct alr_plugin_error {
	char field[64];
	char reason[256];
};

/** How an update of a profile is carried out. */
enum alr_update_kind {
	ALR_UPDATE_NONE,                /**< nothing the registrar sees */
	ALR_UPDATE_MINOR,               /**< a re-REGISTER with the new values */
	ALR_UPDATE_MAJOR,               /**< deregister, then register anew */
};

/** The per-registration handle the host gives a plugin. */
struct alr_plugin_reg;

/**
 * What alrd offers plugins.  Passed to init(); valid until fini().
 */
struct alr_plugin_host {
	unsigned int api_version;
	/** Log at a syslog level, prefixed with the plugin's name. */
	void (*log)(int level, const char *fmt, va_list ap);
	/** The @p i th value of header @p name in @p resp, or NULL. */
	const char *(*response_header)(const struct alr_sip_response *resp,
				       const char *name, size_t i);
	/** The status code of @p resp. */
	int (*response_status)(const struct alr_sip_response *resp);
	/** Set the profile's registered AORs (e.g. from P-Associated-URI). */
	int (*set_registered_aors)(struct alr_plugin_reg *reg,
				   const char *const *aors, size_t n);
	/** Report a plugin-level error for the profile (profile.error). */
	void (*report_error)(struct alr_plugin_reg *reg, int code,
			     const char *message);
};

/**
 * The descriptor.  Every operation but the identity fields may be NULL,
 * meaning "nothing special": no defaults, valid, the profile's values as
 * they are, nothing to learn from responses, the common update rule.
 */
struct alr_plugin {
	unsigned int api_version;       /**< ALR_PLUGIN_API_VERSION */
	const char *name;               /**< for logs, e.g. "ietf" */
	enum alr_profile_class profile_class;
	const char *type_name;          /**< the profile type it serves */
	const char *description;

	/** Once after loading; return 0 or a negative errno (the plugin is
	 * then unloaded and its profiles cannot register). */
	int (*init)(const struct alr_plugin_host *host);
	/** Once before unloading. */
	void (*fini)(void);

	/** Defaults for a new profile of this type: change @p p's fields
	 * that the user left unset.  Only @p expires and the flags may be
	 * changed here. */
	void (*defaults)(unsigned int *expires, bool *security_negotiation,
			 bool *sigcomp);
	/** Type-specific validation; 0, or -EINVAL with @p err filled (e.g.
	 * a plugin that cannot do SigComp refuses sigcomp = true). */
	int (*validate)(const struct alr_profile_info *p,
			struct alr_plugin_error *err);
	/** Shape the registration (add Security-Client, parameters, ...).
	 * @p reg holds the profile's values on entry. */
	int (*build_registration)(const struct alr_profile_info *p,
				  struct alr_registration *reg,
				  struct alr_plugin_reg *handle);
	/** A registration succeeded (2xx) or was refreshed. */
	void (*registered)(const struct alr_profile_info *p,
			   const struct alr_sip_response *resp,
			   struct alr_plugin_reg *handle);
	/** The registration ended (deregistered or failed for good). */
	void (*deregistered)(const struct alr_profile_info *p,
			     struct alr_plugin_reg *handle);
	/** How to carry out an update from @p old to @p new. */
	enum alr_update_kind (*classify_update)(const struct alr_profile_info *old,
						const struct alr_profile_info *new_);
	/** A short text for `alrctl profile show` (may be NULL). */
	void (*state_report)(const struct alr_profile_info *p,
			     struct alr_plugin_reg *handle, char *buf,
			     size_t size);
};

#ifdef __cplusplus
}
#endif
#endif
