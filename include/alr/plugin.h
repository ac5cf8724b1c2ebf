/**
 * @file alr/plugin.h
 * @brief Profile agent plugins: how alrd registers one type of profile.
 *
 * A plugin is a shared object in alrd's plugin directory
 * (`$libdir/alrd/plugins`; `plugin-dir` in alrd.conf, `alrd --plugin-dir`)
 * exporting one symbol, #ALR_PLUGIN_SYMBOL, a `const struct alr_plugin`
 * (write it with #ALR_PLUGIN_EXPORT).  alrd loads every `*.so` there at
 * start with `dlopen(RTLD_NOW | RTLD_LOCAL)`.  It refuses, and logs why:
 *  - a directory or a file that others may write (mode o+w), that is not
 *    owned by root or by alrd's user, or a file that is not a regular file;
 *  - a file without the symbol, or whose descriptor is incomplete (no
 *    name, no type name, an unknown class);
 *  - an `api_version` other than #ALR_PLUGIN_API_VERSION;
 *  - a second plugin for a type already served;
 *  - a plugin whose init() fails.
 * The other plugins still load.  A profile whose type no plugin serves is
 * kept in the store but cannot register: it reports `profile.error`.
 * Build a plugin as a CMake `MODULE` library with hidden visibility; the
 * descriptor is its only exported symbol.  It does not link against alrd:
 * everything it may call is in struct alr_plugin_host.
 *
 * The division of labour: alrd owns the profile (store, validation of the
 * common fields, events), the choice of IAP (SNAPs, roaming) and the SIP
 * machinery (transports, transactions, digest authentication, refresh,
 * backoff, the Contact and its +sip.instance, Call-ID and CSeq).  The
 * plugin says what a registration of its type looks like: which
 * parameters and headers the REGISTER carries and where it goes
 * (build_registration), what a response means (handle_message, e.g.
 * IMS's P-Associated-URI), how an update is carried out
 * (classify_update), what its profiles need (capabilities, defaults,
 * validate) and what to show about a registration (state_report).
 *
 * Every call into a plugin happens on alrd's one thread, from its event
 * loop; a plugin must not block.  Pointers handed to a plugin are valid
 * during the call only.  Plugins never see passwords (only whether one is
 * set), and must not pass secrets to the host's log function, the only
 * one they should use.
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

/** Export a plugin descriptor: `ALR_PLUGIN_EXPORT = { ... };` */
#define ALR_PLUGIN_EXPORT \
	__attribute__((visibility("default"))) const struct alr_plugin alr_plugin_descriptor

/** Profile classes (the first half of a profile's type, docs/profiles.md). */
enum alr_profile_class {
	ALR_PROFILE_CLASS_IETF,
	ALR_PROFILE_CLASS_IMS,
	ALR_PROFILE_CLASS_OTHER,
};

/** What a plugin's profiles need and what it can do (alr_plugin.capabilities). */
enum {
	ALR_PLUGIN_NEEDS_REGISTRAR         = 1u << 0, /**< registrar.uri is required */
	ALR_PLUGIN_NEEDS_PRIVATE_IDENTITY  = 1u << 1, /**< private_identity is required */
	ALR_PLUGIN_CAN_SIGCOMP             = 1u << 2, /**< sigcomp = true is allowed */
	ALR_PLUGIN_CAN_SECURITY_AGREEMENT  = 1u << 3, /**< security_negotiation = true is allowed */
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
	unsigned int id;                /**< 0 while a new profile is validated */
	const char *provider;
	enum alr_profile_class profile_class;
	const char *type_name;          /**< "ietf", "ims", "acme" */
	const char *aor;                /**< the user's AOR */
	const char *private_identity;   /**< IMS IMPI or NULL */
	struct alr_server_info registrar;
	struct alr_server_info proxy;
	bool discover_proxy;            /**< DHCP (RFC 3361) */
	bool security_negotiation;      /**< RFC 3329 */
	bool sigcomp;
	unsigned int expires;           /**< requested, seconds */
	const char *const *contact_params;      /**< "name" or "name=value" */
	size_t n_contact_params;
	const struct alr_header *extra_headers; /**< split at the first ':' */
	size_t n_extra_headers;
	const struct alr_param *params; /**< the profile's extension parameters */
	size_t n_params;
};

/** Defaults a plugin gives a new profile of its type (defaults()); the
 * host fills in the generic ones first. */
struct alr_profile_defaults {
	unsigned int expires;
	bool security_negotiation;
	bool sigcomp;
};

/**
 * A registration as the plugin wants it made (build_registration()).  The
 * host fills it with the profile's values first:
 *  - @c aor: the profile's AOR;
 *  - @c registrar: registrar.uri, or "sip:" ("sips:" for a sips: AOR) and
 *    the AOR's domain when none is set (RFC 3261 §10.2.6), with
 *    ";transport=udp|tcp|tls" added when the server's transport says so
 *    and the URI names none (a sips: URI stays as it is);
 *  - @c outbound_proxy: outbound_proxy.uri (transport as for the
 *    registrar) or NULL;
 *  - @c instance: the profile's stable "urn:uuid:..." (RFC 5626 §4.1);
 *  - @c expires, @c contact_params, @c extra_headers: the profile's.
 * The plugin may point any member elsewhere: at static storage, at the
 * @c alr_profile_info strings, or at memory from host->scratch(); the host
 * copies everything when build_registration() returns.  Credentials are
 * not here: the host answers challenges with the profile's.
 */
struct alr_registration {
	const char *aor;                /**< To and From */
	const char *registrar;          /**< Request-URI; ";transport=tcp" selects TCP, "sips:" or ";transport=tls" TLS */
	const char *outbound_proxy;     /**< first Route, and where requests go; or NULL */
	const char *instance;           /**< +sip.instance URN, or NULL for none */
	unsigned int expires;
	const char *const *contact_params;
	size_t n_contact_params;
	const struct alr_header *extra_headers;
	size_t n_extra_headers;
};

/** A SIP message alrd received for a plugin's registration: a response to
 * a REGISTER, or (later) a request such as a reg-event NOTIFY.  Read it with
 * the host's message_* functions. */
struct alr_sip_message;

/** A plugin's error: the field concerned (profile JSON member path, e.g.
 * "registrar.uri") and why. */
struct alr_plugin_error {
	char field[64];
	char reason[256];
};

/** How an update of a registered profile is carried out. */
enum alr_update_kind {
	ALR_UPDATE_NONE,                /**< nothing the registrar sees */
	ALR_UPDATE_MINOR,               /**< a re-REGISTER with the new values */
	ALR_UPDATE_MAJOR,               /**< deregister, then register anew */
};

/** The per-profile handle the host gives a plugin: one per profile, for
 * the profile's life in alrd (across registrations). */
struct alr_plugin_reg;

/**
 * What alrd offers plugins.  Passed to init(); valid until fini().
 */
struct alr_plugin_host {
	unsigned int api_version;
	/** Log at a syslog level (LOG_ERR .. LOG_DEBUG), prefixed with the
	 * plugin's name.  Never pass a secret. */
	void (*log)(int level, const char *fmt, va_list ap)
		__attribute__((format(printf, 2, 0)));

	/** Zeroed memory of @p size bytes that stays valid until the
	 * current call into the plugin has returned and the host has used
	 * its results; NULL on ENOMEM.  For strings and arrays put into
	 * struct alr_registration. */
	void *(*scratch)(struct alr_plugin_reg *reg, size_t size);
	/** The plugin's own data for this profile (NULL at first), and
	 * replacing it (@p destroy, if not NULL, is called on the old data
	 * and when the profile goes away). */
	void *(*get_data)(struct alr_plugin_reg *reg);
	void (*set_data)(struct alr_plugin_reg *reg, void *data, void (*destroy)(void *));

	/** A response's status code (100..699); 0 for a request. */
	int (*message_status)(const struct alr_sip_message *msg);
	/** The method: "REGISTER" for a response to one, the request's for a
	 * request. */
	const char *(*message_method)(const struct alr_sip_message *msg);
	/** The @p i th value (from 0) of header @p name (case-insensitive), or
	 * NULL.  XXX alrd 0.1 hands plugins the status line and, in a 2xx,
	 * "Contact" (the registered contact) and "Expires" (the granted
	 * seconds) only: sip/ does not pass whole responses up yet. */
	const char *(*message_header)(const struct alr_sip_message *msg,
				      const char *name, size_t i);

	/** Set the profile's registered AORs (e.g. from P-Associated-URI);
	 * copied.  0 or -ENOMEM. */
	int (*set_registered_aors)(struct alr_plugin_reg *reg,
				   const char *const *aors, size_t n);
	/** Report a plugin-level error for the profile (a profile.error
	 * event; @p code as there, 0 when no SIP status applies). */
	void (*report_error)(struct alr_plugin_reg *reg, int code,
			     const char *message);
};

/**
 * The descriptor.  Every operation may be NULL, meaning "nothing
 * special": no init, the generic defaults, valid, the profile's values as
 * they are, nothing to learn from messages, the generic update rule, no
 * report.
 */
struct alr_plugin {
	unsigned int api_version;       /**< ALR_PLUGIN_API_VERSION */
	const char *name;               /**< for logs and profile state, e.g. "ietf" */
	enum alr_profile_class profile_class;
	const char *type_name;          /**< the type it serves: "ietf", "ims", "acme" */
	const char *description;        /**< one line for people, or NULL */
	unsigned int capabilities;      /**< ALR_PLUGIN_NEEDS_*, ALR_PLUGIN_CAN_* */

	/** Once after loading; 0 or a negative errno (the plugin is then
	 * unloaded and its profiles cannot register). */
	int (*init)(const struct alr_plugin_host *host);
	/** Once before unloading. */
	void (*fini)(void);

	/** Defaults for a new profile of this type, before the values the
	 * client gave are applied. */
	void (*defaults)(struct alr_profile_defaults *d);
	/** Type-specific validation, after the generic checks, at create,
	 * update and import; 0, or -EINVAL with @p err filled. */
	int (*validate)(const struct alr_profile_info *p,
			struct alr_plugin_error *err);
	/** Register: shape the REGISTER of @p p (see struct
	 * alr_registration).  Called before each new binding: at the first
	 * registration, after a major update, and for a minor update's
	 * re-REGISTER.  0, or a negative errno and the profile reports
	 * profile.error (via report_error() for a message of its own). */
	int (*build_registration)(const struct alr_profile_info *p,
				  struct alr_registration *reg,
				  struct alr_plugin_reg *handle);
	/** A message for the registration: every final response to its
	 * REGISTER (a 2xx when registered or refreshed, or the error that
	 * stopped it), and later requests such as NOTIFY. */
	void (*handle_message)(const struct alr_profile_info *p,
			       const struct alr_sip_message *msg,
			       struct alr_plugin_reg *handle);
	/** The registration ended: deregistered, or failed for good. */
	void (*deregistered)(const struct alr_profile_info *p,
			     struct alr_plugin_reg *handle);
	/** Update: how to carry out a change from @p old to @p new_ of a
	 * registered profile.  The host computes the generic class
	 * (docs/profiles.md) and takes the stronger of the two: a plugin may
	 * ask for more, not for less. */
	enum alr_update_kind (*classify_update)(const struct alr_profile_info *old,
						const struct alr_profile_info *new_);
	/** A short text about the registration for `alrctl profile show`
	 * (the "report" of the profile state), NUL-terminated in @p buf. */
	void (*state_report)(const struct alr_profile_info *p,
			     struct alr_plugin_reg *handle, char *buf,
			     size_t size);
};

#ifdef __cplusplus
}
#endif
#endif
