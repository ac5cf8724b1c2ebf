/* Local users looked up off the loop (userlookup.h). */
#include "edge/userlookup.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

/* What the loop and the worker share, under mu.  The loop's side (ul) and
 * the worker each hold a reference; the last to let go frees it. */
struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool stopping;                  /* the loop's side is gone */
	ev_async *async;                /* the loop's; NULL once stopping */
	struct ev_loop *loop;

	uid_t asked[USERLOOKUP_MAX_PENDING];    /* [0] is being looked up */
	size_t n_asked;
	struct userlookup_user answers[USERLOOKUP_MAX_PENDING];
	size_t n_answers;
};

struct userlookup {
	struct ev_loop *loop;
	ev_async async;
	struct shared *sh;
	bool started;
	userlookup_done_fn done;
	void *user_data;
};

void userlookup_resolve(uid_t uid, struct userlookup_user *ret)
{
	struct passwd pw, *pwp = NULL;
	char buf[16384];
	int ng = USERLOOKUP_MAX_GROUPS, r;

	memset(ret, 0, sizeof(*ret));
	ret->uid = uid;
	r = getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp);
	if (r != 0 || !pwp) {
		ret->error = r ? r : ENOENT;
		return;
	}
	ret->known = true;
	snprintf(ret->name, sizeof(ret->name), "%s", pw.pw_name);
	if (getgrouplist(pw.pw_name, pw.pw_gid, ret->groups, &ng) < 0)
		ng = USERLOOKUP_MAX_GROUPS;     /* the first ones */
	ret->n_groups = ng;
	explicit_bzero(buf, sizeof(buf));       /* a password hash, maybe */
}

static void unref(struct shared *sh)
{
	bool last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static void *worker(void *arg)
{
	struct shared *sh = arg;
	struct userlookup_user u;
	uid_t uid;

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		while (!sh->n_asked && !sh->stopping)
			pthread_cond_wait(&sh->cv, &sh->mu);
		if (sh->stopping)
			break;
		uid = sh->asked[0];
		pthread_mutex_unlock(&sh->mu);
		userlookup_resolve(uid, &u);
		pthread_mutex_lock(&sh->mu);
		if (sh->stopping)
			break;
		/* asked[0] leaves only now: an ask meanwhile joined it */
		memmove(sh->asked, sh->asked + 1, --sh->n_asked * sizeof(sh->asked[0]));
		sh->answers[sh->n_answers++] = u;
		ev_async_send(sh->loop, sh->async);
	}
	pthread_mutex_unlock(&sh->mu);
	unref(sh);
	return NULL;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct userlookup *ul = container_of(w, struct userlookup, async);
	struct userlookup_user *got;
	size_t n;

	pthread_mutex_lock(&ul->sh->mu);
	n = ul->sh->n_answers;
	got = n ? malloc(n * sizeof(*got)) : NULL;
	if (got) {
		memcpy(got, ul->sh->answers, n * sizeof(*got));
		ul->sh->n_answers = 0;
	}
	pthread_mutex_unlock(&ul->sh->mu);
	if (!got) {
		if (n)
			ev_async_send(loop, w);         /* out of memory: next turn */
		return;
	}
	for (size_t i = 0; i < n; i++)
		ul->done(ul->user_data, &got[i]);
	free(got);
}

struct userlookup *userlookup_new(struct ev_loop *loop, userlookup_done_fn done,
				  void *user_data)
{
	struct userlookup *ul = calloc(1, sizeof(*ul));

	if (!ul)
		return NULL;
	ul->sh = calloc(1, sizeof(*ul->sh));
	if (!ul->sh) {
		free(ul);
		return NULL;
	}
	pthread_mutex_init(&ul->sh->mu, NULL);
	pthread_cond_init(&ul->sh->cv, NULL);
	ul->sh->refs = 1;
	ul->sh->loop = loop;
	ul->sh->async = &ul->async;
	ul->loop = loop;
	ul->done = done;
	ul->user_data = user_data;
	ev_async_init(&ul->async, async_cb);
	ev_async_start(loop, &ul->async);
	/* the loop's reference would keep ev_run() from ending by itself */
	ev_unref(loop);
	return ul;
}

/* The worker starts at the first ask: a daemon whose edge nobody uses runs
 * one thread, as before.  It blocks every signal: they are the loop's. */
static int start_worker(struct userlookup *ul)
{
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&ul->sh->mu);
	ul->sh->refs++;
	pthread_mutex_unlock(&ul->sh->mu);
	r = pthread_create(&th, &attr, worker, ul->sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_mutex_lock(&ul->sh->mu);
		ul->sh->refs--;
		pthread_mutex_unlock(&ul->sh->mu);
		return -r;
	}
	ul->started = true;
	return 0;
}

int userlookup_ask(struct userlookup *ul, uid_t uid)
{
	struct shared *sh = ul->sh;
	int r = 0;

	if (!ul->started && (r = start_worker(ul)) < 0)
		return r;
	pthread_mutex_lock(&sh->mu);
	/* asked already, and not yet delivered: one answer serves both */
	for (size_t i = 0; i < sh->n_asked; i++)
		if (sh->asked[i] == uid)
			goto out;
	for (size_t i = 0; i < sh->n_answers; i++)
		if (sh->answers[i].uid == uid)
			goto out;
	if (sh->n_asked + sh->n_answers >= USERLOOKUP_MAX_PENDING) {
		r = -EBUSY;
		goto out;
	}
	sh->asked[sh->n_asked++] = uid;
	pthread_cond_signal(&sh->cv);
out:
	pthread_mutex_unlock(&sh->mu);
	return r;
}

unsigned int userlookup_pending(const struct userlookup *ul)
{
	unsigned int n;

	pthread_mutex_lock(&ul->sh->mu);
	n = (unsigned int)(ul->sh->n_asked + ul->sh->n_answers);
	pthread_mutex_unlock(&ul->sh->mu);
	return n;
}

struct userlookup *userlookup_free(struct userlookup *ul)
{
	if (!ul)
		return NULL;
	pthread_mutex_lock(&ul->sh->mu);
	ul->sh->stopping = true;
	ul->sh->async = NULL;
	pthread_cond_signal(&ul->sh->cv);
	pthread_mutex_unlock(&ul->sh->mu);
	ev_ref(ul->loop);
	ev_async_stop(ul->loop, &ul->async);
	unref(ul->sh);
	free(ul);
	return NULL;
}
