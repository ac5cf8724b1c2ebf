/*
 * The SIP profile object (docs/profiles.md): the plain structs, their
 * enums and limits, and what creates, copies and frees them.  It sits at
 * the bottom because the store persists it (store/) and the engine works
 * on it (alr/); what a valid profile is, how an update is classified and
 * how a client's change applies stay in alr/profile.h.
 *
 * Strings are NUL-terminated, heap-allocated and owned by the profile; NULL
 * means "not set".  Passwords are held in memory because the registrar asks
 * for them, wiped with explicit_bzero() when freed or replaced, and never
 * leave through the JSON form (daemon/profile-json.h) unless the caller
 * asks for secrets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits: every size a user controls is bounded. */
#define PROFILE_MAX_STRING        1024    /* any one string, in bytes */
#define PROFILE_MAX_NAME          64      /* parameter and type names */
#define PROFILE_MAX_LIST          32      /* contact_params, extra_headers, registered_aors,
						   local_users */
#define PROFILE_MAX_PARAMS        64      /* extension parameters per list */
#define PROFILE_MAX_PARAM_ITEMS   64      /* items of one string-list parameter */
#define PROFILE_EXPIRES_DEFAULT   3600
#define PROFILE_EXPIRES_MIN       30
#define PROFILE_EXPIRES_MAX       2147483647u
#define PROFILE_DSCP_MAX          63

enum profile_class {
	PROFILE_CLASS_IETF,
	PROFILE_CLASS_IMS,
	PROFILE_CLASS_OTHER,
	_PROFILE_CLASS_MAX,
};

enum profile_transport {
	PROFILE_TRANSPORT_AUTO,
	PROFILE_TRANSPORT_UDP,
	PROFILE_TRANSPORT_TCP,
	PROFILE_TRANSPORT_TLS,
	_PROFILE_TRANSPORT_MAX,
};

enum profile_bearer {
	PROFILE_BEARER_ANY,
	PROFILE_BEARER_WIFI,
	PROFILE_BEARER_CELLULAR,
	_PROFILE_BEARER_MAX,
};

enum profile_param_type {
	PROFILE_PARAM_INT,
	PROFILE_PARAM_BOOL,
	PROFILE_PARAM_STRING,
	PROFILE_PARAM_STRING_LIST,
	_PROFILE_PARAM_TYPE_MAX,
};

const char *profile_class_to_str(enum profile_class c);
int profile_class_from_str(const char *s);              /* -EINVAL if unknown */
const char *profile_transport_to_str(enum profile_transport t);
int profile_transport_from_str(const char *s);
const char *profile_bearer_to_str(enum profile_bearer b);
int profile_bearer_from_str(const char *s);
const char *profile_param_type_to_str(enum profile_param_type t);
int profile_param_type_from_str(const char *s);

struct profile_strv {
	char **v;
	size_t n;
};

/* One typed extension parameter, under a name or a numeric key. */
struct profile_param {
	char *name;                     /* NULL: keyed by @key */
	uint32_t key;
	enum profile_param_type type;
	union {
		int64_t i;
		bool b;
		char *s;
		struct profile_strv list;
	} value;
};

struct profile_params {
	struct profile_param *v;
	size_t n;
};

/* The registrar or the outbound proxy. */
struct profile_server {
	char *uri;                      /* SIP/SIPS URI */
	enum profile_transport transport;
	char *digest_user;
	char *realm;                    /* NULL: answer any realm */
	char *password;                 /* write-only */
	char *ha1;                      /* instead of password once sealed
					   (profile_seal_passwords); never on
					   the wire */
	char *ca_file;                  /* TLS: the CA certificates (PEM) its
					   certificate must chain to; NULL:
					   alrd.conf's tls-ca-file, else the
					   system's store */
	struct profile_params params;
};

struct profile {
	unsigned int id;                /* assigned by the store; 0: not stored */
	char *provider_name;
	enum profile_class type_class;
	char *type_name;                /* selects the plugin; "ietf" for class ietf */
	char *aor;                      /* the user's address of record */
	struct profile_strv registered_aors;    /* read-only: set by plugins */
	char *registered_contact;       /* read-only: set by plugins */

	unsigned int snap_id;           /* 0: the built-in default SNAP */
	unsigned int iap_id;            /* 0: none; else fixed to it, snap_id 0 */
	enum profile_bearer bearer;

	struct profile_server registrar;
	struct profile_server outbound_proxy;
	bool proxy_from_dhcp;           /* RFC 3361 */

	bool auto_register;
	bool is_default;

	char *private_identity;         /* IMS IMPI (NAI) */
	bool security_negotiation;      /* RFC 3329 */
	bool sigcomp;                   /* RFC 3320/3486 */
	struct profile_strv contact_params;     /* "name" or "name=value" */
	struct profile_strv extra_headers;      /* "Name: value" */
	uint32_t expires;               /* requested, seconds */
	unsigned int dscp;              /* signalling DSCP, 0..63 */
	bool locked;
	/* Users (login names) who may register the profile locally at the
	 * SIP edge besides root and the control groups (docs/edge.md). */
	struct profile_strv local_users;
	/* Or, for applications the socket table cannot name, a digest
	 * password for the AOR's user name in realm "alrd"; NULL: none.
	 * Write-only, as the servers' passwords. */
	char *local_password;

	struct profile_params params;
};

/* Where a profile is wrong: @field is the JSON path ("registrar.uri",
 * "params.codec", "contact_params[1]"), @reason what is wrong with it. */
struct profile_error {
	char field[96];
	char reason[256];
};

/* A new profile with the defaults of docs/profiles.md; NULL on ENOMEM. */
struct profile *profile_new(void);
struct profile *profile_free(struct profile *p);
struct profile *profile_dup(const struct profile *p);

/* "ietf", "ims", "other/acme": the class alone when the name equals it.
 * Returns @buf. */
const char *profile_type_str(const struct profile *p, char *buf, size_t size);

/* For plugins: set the read-only registration state.  0 or -ENOMEM. */
int profile_set_registered(struct profile *p, const char *const *aors, size_t n_aors,
			   const char *contact);

/* Extension parameter lookup; NULL when absent. */
const struct profile_param *profile_params_find_name(const struct profile_params *ps,
						     const char *name);
const struct profile_param *profile_params_find_key(const struct profile_params *ps,
						    uint32_t key);

/* Helpers the store, the JSON and the text format share. */
void profile_strv_clear(struct profile_strv *sv);
int profile_strv_push(struct profile_strv *sv, const char *s);     /* 0 or -ENOMEM */
void profile_params_clear(struct profile_params *ps);
/* Append a zeroed parameter; NULL on ENOMEM. */
struct profile_param *profile_params_add(struct profile_params *ps);
/* Replace *@slot with a copy of @s (NULL clears), wiping the old value
 * when @secret.  0 or -ENOMEM. */
int profile_set_string(char **slot, const char *s, bool secret);
/* Free what @sv holds (passwords wiped) and zero it. */
void profile_server_clear(struct profile_server *sv);
/* Fill @e (may be NULL) and return -EINVAL. */
int profile_error_set(struct profile_error *e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
