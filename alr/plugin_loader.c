/* Profile agent plugins: dlopen(RTLD_NOW) from a directory nobody else
 * may write, one descriptor symbol each (include/alr/plugin.h). */
#include "alr/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define MAX_PLUGINS     64
#define CALL_DEPTH_MAX  8

struct loaded {
	void *handle;
	const struct alr_plugin *desc;
	char *path;
};

struct failure {
	char *file;
	char *reason;
};

struct plugin_loader {
	const struct alr_plugin_host *host;
	char *dir;
	struct loaded plugins[MAX_PLUGINS];
	size_t n;
	struct failure *failures;
	size_t n_failures;
};

/* Who the host's log function speaks for. */
static const struct alr_plugin *calling[CALL_DEPTH_MAX];
static unsigned int call_depth;

void plugin_loader_call_begin(const struct alr_plugin *p)
{
	if (call_depth < CALL_DEPTH_MAX)
		calling[call_depth] = p;
	call_depth++;
}

void plugin_loader_call_end(void)
{
	if (call_depth)
		call_depth--;
}

void plugin_loader_host_log(int level, const char *fmt, va_list ap)
{
	const struct alr_plugin *p = call_depth && call_depth <= CALL_DEPTH_MAX ?
				     calling[call_depth - 1] : NULL;
	char buf[1024];

	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	if (!log_enabled(level))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(level, "plugin %s: %s", p && p->name ? p->name : "?", buf);
}

bool plugin_loader_name_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '+' ||
		      c == '-'))
			return false;
		if (n >= 64)
			return false;
	}
	return n > 0;
}

struct plugin_loader *plugin_loader_new(const struct alr_plugin_host *host)
{
	struct plugin_loader *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->host = host;
	return l;
}

struct plugin_loader *plugin_loader_free(struct plugin_loader *l)
{
	if (!l)
		return NULL;
	/* Unload in reverse order of loading. */
	while (l->n) {
		struct loaded *p = &l->plugins[--l->n];

		if (p->desc->fini) {
			plugin_loader_call_begin(p->desc);
			p->desc->fini();
			plugin_loader_call_end();
		}
		dlclose(p->handle);
		free(p->path);
	}
	for (size_t i = 0; i < l->n_failures; i++) {
		free(l->failures[i].file);
		free(l->failures[i].reason);
	}
	free(l->failures);
	free(l->dir);
	free(l);
	return NULL;
}

static void refuse(struct plugin_loader *l, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log once and remember why @file was not loaded. */
static void refuse(struct plugin_loader *l, const char *file, const char *fmt, ...)
{
	struct failure *f;
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_err("plugin %s/%s not loaded: %s", l->dir, file, reason);
	f = realloc(l->failures, (l->n_failures + 1) * sizeof(*f));
	if (!f)
		return;
	l->failures = f;
	f[l->n_failures].file = strdup(file);
	f[l->n_failures].reason = strdup(reason);
	if (!f[l->n_failures].file || !f[l->n_failures].reason) {
		free(f[l->n_failures].file);
		free(f[l->n_failures].reason);
		return;
	}
	l->n_failures++;
}

/* Nobody but root and us may change what we run. */
static const char *unsafe_why(const struct stat *st)
{
	if (st->st_mode & S_IWOTH)
		return "writable by others (mode o+w)";
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return "owned by another user (not root, not alrd's user)";
	return NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static const char *class_name(int cls)
{
	switch (cls) {
	case ALR_PROFILE_CLASS_IETF:
		return "ietf";
	case ALR_PROFILE_CLASS_IMS:
		return "ims";
	case ALR_PROFILE_CLASS_OTHER:
		return "other";
	}
	return NULL;
}

const struct alr_plugin *plugin_loader_find(const struct plugin_loader *l, int cls,
					    const char *type_name)
{
	if (!l || !type_name)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		const struct alr_plugin *d = l->plugins[i].desc;

		if ((int)d->profile_class == cls && strcmp(d->type_name, type_name) == 0)
			return d;
	}
	return NULL;
}

static void load_one(struct plugin_loader *l, const char *file)
{
	char path[PATH_MAX];
	const struct alr_plugin *d;
	struct stat st;
	const char *why;
	void *h;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", l->dir, file) >= sizeof(path)) {
		refuse(l, file, "path too long");
		return;
	}
	if (lstat(path, &st) < 0) {
		refuse(l, file, "%s", strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		refuse(l, file, "not a regular file");
		return;
	}
	why = unsafe_why(&st);
	if (why) {
		refuse(l, file, "%s", why);
		return;
	}
	if (l->n == MAX_PLUGINS) {
		refuse(l, file, "more than %d plugins", MAX_PLUGINS);
		return;
	}
	/* RTLD_NOW: an unresolved symbol fails here, not at the first call
	 * in the middle of a registration.  RTLD_LOCAL: plugins do not see
	 * each other. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();

		refuse(l, file, "dlopen: %s", e ? e : "failed");
		return;
	}
	d = dlsym(h, ALR_PLUGIN_SYMBOL);
	if (!d) {
		refuse(l, file, "no symbol %s (is it an alrd plugin, built with ALR_PLUGIN_EXPORT?)",
		       ALR_PLUGIN_SYMBOL);
		goto close;
	}
	if (d->api_version != ALR_PLUGIN_API_VERSION) {
		refuse(l, file, "plugin API version %u; this alrd speaks version %d",
		       d->api_version, ALR_PLUGIN_API_VERSION);
		goto close;
	}
	if (!plugin_loader_name_valid(d->name)) {
		refuse(l, file, "the descriptor has no valid name");
		goto close;
	}
	if (!class_name((int)d->profile_class)) {
		refuse(l, file, "plugin %s: unknown profile class %d", d->name,
		       (int)d->profile_class);
		goto close;
	}
	if (!plugin_loader_name_valid(d->type_name)) {
		refuse(l, file, "plugin %s: no valid type name", d->name);
		goto close;
	}
	{
		const struct alr_plugin *other = plugin_loader_find(l, (int)d->profile_class,
								    d->type_name);

		if (other) {
			refuse(l, file, "plugin %s: type %s/%s is served by plugin %s already",
			       d->name, class_name((int)d->profile_class), d->type_name,
			       other->name);
			goto close;
		}
	}
	if (d->init) {
		plugin_loader_call_begin(d);
		r = d->init(l->host);
		plugin_loader_call_end();
		if (r < 0) {
			refuse(l, file, "plugin %s: init failed: %s", d->name, strerror(-r));
			goto close;
		}
	}
	l->plugins[l->n].handle = h;
	l->plugins[l->n].desc = d;
	l->plugins[l->n].path = strdup(path);
	l->n++;
	log_info("plugin %s loaded from %s: type %s/%s%s%s", d->name, path,
		 class_name((int)d->profile_class), d->type_name,
		 d->description ? ", " : "", d->description ? d->description : "");
	return;
close:
	dlclose(h);
}

int plugin_loader_load_dir(struct plugin_loader *l, const char *dir)
{
	struct dirent **names = NULL;
	struct stat st;
	const char *why;
	int n;

	if (l->dir)
		return -EALREADY;
	l->dir = strdup(dir);
	if (!l->dir)
		return -ENOMEM;
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			return log_errno(LOG_WARNING, -ENOENT,
					 "plugin directory %s does not exist: no plugins, "
					 "profiles cannot register", dir);
		return log_errno(LOG_ERR, -errno, "plugin directory %s: %m", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return log_errno(LOG_ERR, -ENOTDIR, "plugin directory %s is not a directory", dir);
	why = unsafe_why(&st);
	if (why)
		return log_errno(LOG_ERR, -EPERM,
				 "plugin directory %s refused: %s; no plugin loaded", dir, why);
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return log_errno(LOG_ERR, -errno, "plugin directory %s: %m", dir);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && has_suffix(names[i]->d_name, ".so"))
			load_one(l, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	log_info("%zu plugin%s loaded from %s%s", l->n, l->n == 1 ? "" : "s", dir,
		 l->n_failures ? " (some refused, see above)" : "");
	return (int)l->n;
}

const char *plugin_loader_dir(const struct plugin_loader *l)
{
	return l ? l->dir : NULL;
}

size_t plugin_loader_count(const struct plugin_loader *l)
{
	return l ? l->n : 0;
}

const struct alr_plugin *plugin_loader_at(const struct plugin_loader *l, size_t i,
					  const char **ret_path)
{
	if (!l || i >= l->n)
		return NULL;
	if (ret_path)
		*ret_path = l->plugins[i].path;
	return l->plugins[i].desc;
}

size_t plugin_loader_failure_count(const struct plugin_loader *l)
{
	return l ? l->n_failures : 0;
}

const char *plugin_loader_failure_at(const struct plugin_loader *l, size_t i,
				     const char **ret_reason)
{
	if (!l || i >= l->n_failures)
		return NULL;
	if (ret_reason)
		*ret_reason = l->failures[i].reason;
	return l->failures[i].file;
}
