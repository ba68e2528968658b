// SPDX-License-Identifier: MIT
/*
 * OCI distribution API client (pull side) over libcurl.  One easy handle
 * per registry for documents and ranges (connection reuse), one per blob
 * stream (on its own thread, feeding the tar reader through a buffer).
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/fetch.h>

#define ACCEPT_MANIFESTS \
	"Accept: application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.oci.image.index.v1+json, " \
	"application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MANIFEST_MAX (4u << 20)
#define STREAM_BUF (4u << 20)

struct lading_registry {
	char *host, *repo, *base;
	bool url_mode;		/* base is a plain URL: blobs at <base>/<hex> */
	char *userpwd;		/* "user:pass" or NULL */
	bool use_basic;		/* the registry asked for Basic */
	char *token;		/* bearer token and when it expires */
	time_t token_expiry;
	struct lading_registry_opts opts;
	CURL *curl;
	pthread_mutex_t lock;	/* auth state, shared with stream threads */
};

struct response {
	long status;
	char ctype[256];
	char docker_digest[128];
	char www_auth[1024];
	char content_range[128];
	char location[2048];
	char oci_subject[128];	/* OCI 1.1: the registry recorded a subject */
	long retry_after;
	unsigned generation;	/* responses seen (redirects, retries) */
	/* CLOCK_MONOTONIC ms by which the read must end (0: from opts) */
	int64_t deadline;
	CURL *curl;		/* to read the status while the body arrives */
	/* body sink: only sees the body of a 2xx response */
	size_t (*sink)(const char *p, size_t n, void *ud);
	void (*reset)(void *ud);	/* a retry starts over (NULL: resumes) */
	void *sink_ud;
};

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned opt_timeout(const struct lading_registry_opts *o)
{
	return o->timeout ? o->timeout : LADING_REGISTRY_TIMEOUT_DEFAULT;
}

static int64_t read_deadline(const struct lading_registry_opts *o)
{
	return now_ms() + (int64_t)opt_timeout(o) * 1000;
}

/*
 * The limits every transfer gets: what is left of the read's deadline,
 * and the minimum rate.  false when the deadline has passed already.
 */
static bool set_limits(CURL *c, const struct lading_registry_opts *o,
		       int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return false;
	/* INT64_MAX: no deadline (uploads) */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, deadline == INT64_MAX ? 0L : (long)left);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)(o->min_rate ? o->min_rate :
				LADING_REGISTRY_MIN_RATE_DEFAULT));
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(o->min_rate_time ?
				o->min_rate_time : LADING_REGISTRY_MIN_RATE_TIME_DEFAULT));
	return true;
}

/*
 * Why a transfer timed out, for its error message; why: curl's error
 * buffer ("" if no transfer ran).
 */
static int timeout_error(const struct lading_registry_opts *o, const char *why,
			 const char *url, int64_t deadline, struct lading_error *err)
{
	if (now_ms() + 50 >= deadline)
		return lading_error_set(err, ETIMEDOUT, "%s: not done within %u s "
					"(--registry-timeout)", url, opt_timeout(o));
	/* the connection timeout, not the rate */
	if (*why && strncmp(why, "Operation too slow", 18))
		return lading_error_set(err, ETIMEDOUT, "%s: %s", url, why);
	return lading_error_set(err, ETIMEDOUT, "%s: slower than %u bytes/s for "
				"%u s (--registry-min-rate)", url, o->min_rate ? o->min_rate :
				LADING_REGISTRY_MIN_RATE_DEFAULT, o->min_rate_time ?
				o->min_rate_time : LADING_REGISTRY_MIN_RATE_TIME_DEFAULT);
}

int lading_docker_ref_parse(const char *s, char **host, char **repo,
			    char **ref, struct lading_error *err)
{
	const char *p, *slash, *at, *colon;

	*host = *repo = *ref = NULL;
	if (strncmp(s, "docker://", 9))
		return lading_error_set(err, EINVAL, "'%s': expected docker://HOST/REPO"
					"[:TAG|@DIGEST]", s);
	p = s + 9;
	slash = strchr(p, '/');
	if (!slash || slash == p || !slash[1])
		return lading_error_set(err, EINVAL, "'%s': no HOST/REPO", s);
	*host = strndup(p, (size_t)(slash - p));
	p = slash + 1;
	at = strchr(p, '@');
	colon = strrchr(p, ':');
	if (at) {
		*repo = strndup(p, (size_t)(at - p));
		*ref = strdup(at + 1);
	} else if (colon && !strchr(colon, '/')) {
		*repo = strndup(p, (size_t)(colon - p));
		*ref = strdup(colon + 1);
	} else {
		*repo = strdup(p);
		*ref = strdup("latest");
	}
	if (!*host || !*repo || !*ref)
		return lading_error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* "sha256:<hex>" of data into out; 0, or -EIO with err set. */
static int sha256_str(const void *data, size_t len, char *out,
		      struct lading_error *err)
{
	struct lading_digest d;
	int ret = lading_sha256(data, len, &d);

	if (ret)
		return lading_error_set(err, -ret, "sha256: %s", strerror(-ret));
	lading_digest_format(&d, out);
	return 0;
}

/* user:pass for host from docker's config.json ("auths" base64 entries). */
static char *docker_config_creds(const char *host)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME"), *b64;
	char path[4096];
	json_t *cfg, *auth;
	unsigned char out[1024];
	int n;

	if (dir)
		snprintf(path, sizeof(path), "%s/config.json", dir);
	else if (home)
		snprintf(path, sizeof(path), "%s/.docker/config.json", home);
	else
		return NULL;
	cfg = json_load_file(path, 0, NULL);
	if (!cfg)
		return NULL;
	auth = json_object_get(json_object_get(cfg, "auths"), host);
	b64 = json_string_value(json_object_get(auth, "auth"));
	if (!b64 || strlen(b64) >= sizeof(out) * 3 / 4) {
		json_decref(cfg);
		return NULL;
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
	json_decref(cfg);
	if (n <= 0)
		return NULL;
	while (n > 0 && out[n - 1] == '\0')	/* padding decodes to NULs */
		n--;
	return strndup((const char *)out, (size_t)n);
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct response *resp = ud;
	size_t len = size * n, k;
	static const struct {
		const char *name;
		size_t off, cap;
	} wanted[] = {
		{ "content-type:", offsetof(struct response, ctype), 256 },
		{ "docker-content-digest:", offsetof(struct response, docker_digest), 128 },
		{ "www-authenticate:", offsetof(struct response, www_auth), 1024 },
		{ "content-range:", offsetof(struct response, content_range), 128 },
		{ "location:", offsetof(struct response, location), 2048 },
		{ "oci-subject:", offsetof(struct response, oci_subject), 128 },
	};

	if (len > 9 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (after a redirect or 100): forget the last one */
		resp->ctype[0] = resp->docker_digest[0] = resp->www_auth[0] = '\0';
		resp->content_range[0] = '\0';
		resp->location[0] = '\0';
		resp->oci_subject[0] = '\0';
		resp->retry_after = 0;
		resp->generation++;
		return len;
	}
	for (k = 0; k < LADING_ARRAY_SIZE(wanted); k++) {
		size_t nl = strlen(wanted[k].name);
		char *dst = (char *)resp + wanted[k].off;
		size_t v, e;

		if (len <= nl || strncasecmp(buf, wanted[k].name, nl))
			continue;
		for (v = nl; v < len && isspace((unsigned char)buf[v]); v++)
			;
		for (e = len; e > v && isspace((unsigned char)buf[e - 1]); e--)
			;
		snprintf(dst, wanted[k].cap, "%.*s", (int)(e - v), buf + v);
	}
	if (len > 12 && !strncasecmp(buf, "retry-after:", 12))
		resp->retry_after = strtol(buf + 12, NULL, 10);
	return len;
}

static size_t body_cb(char *p, size_t size, size_t n, void *ud)
{
	struct response *resp = ud;
	long status = 0;

	curl_easy_getinfo(resp->curl, CURLINFO_RESPONSE_CODE, &status);
	if (!resp->sink || status / 100 != 2)
		return size * n;	/* error pages and redirects are dropped */
	return resp->sink(p, size * n, resp->sink_ud);
}

/* ---- auth ------------------------------------------------------------- */

/* Value of key="..." in a WWW-Authenticate challenge. */
static bool challenge_param(const char *ch, const char *key, char *out, size_t cap)
{
	const char *p = ch;
	size_t kl = strlen(key);

	while ((p = strstr(p, key))) {
		if ((p == ch || p[-1] == ' ' || p[-1] == ',') && p[kl] == '=') {
			const char *v = p + kl + 1, *e;

			if (*v == '"') {
				e = strchr(++v, '"');
			} else {
				e = strchr(v, ',');
				if (!e)
					e = v + strlen(v);
			}
			if (!e || (size_t)(e - v) >= cap)
				return false;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return true;
		}
		p += kl;
	}
	return false;
}

struct membuf {
	char *data;
	size_t len, cap, max;
	bool overflow;
};

static size_t mem_sink(const char *p, size_t n, void *ud)
{
	struct membuf *m = ud;

	if (m->len + n > m->max) {
		m->overflow = true;
		return 0;
	}
	if (m->len + n + 1 > m->cap) {
		size_t cap = (m->len + n + 1) * 2;
		char *d = realloc(m->data, cap);

		if (!d)
			return 0;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
	m->data[m->len] = '\0';
	return n;
}

static void mem_reset(void *ud)
{
	struct membuf *m = ud;

	m->len = 0;
	m->overflow = false;
}

static int fetch_token(struct lading_registry *r, CURL *c, const char *challenge,
		       struct lading_error *err)
{
	char realm[512], service[256] = "", scope[512] = "", *url, *es, *esc;
	struct membuf m = { .max = 1 << 20 };
	struct response resp = { .sink = mem_sink, .sink_ud = &m, .curl = c };
	json_t *j;
	const char *tok;
	CURLcode cr;
	int ret = 0;

	if (!challenge_param(challenge, "realm", realm, sizeof(realm)))
		return lading_error_set(err, EPROTO, "%s: bearer challenge without "
					"a realm", r->host);
	challenge_param(challenge, "service", service, sizeof(service));
	if (!challenge_param(challenge, "scope", scope, sizeof(scope)))
		snprintf(scope, sizeof(scope), "repository:%s:pull", r->repo);
	es = curl_easy_escape(c, service, 0);
	esc = curl_easy_escape(c, scope, 0);
	url = malloc(strlen(realm) + strlen(es) + strlen(esc) + 32);
	if (!url || !es || !esc) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	sprintf(url, "%s%cservice=%s&scope=%s", realm, strchr(realm, '?') ? '&' : '?',
		es, esc);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	if (!set_limits(c, &r->opts, read_deadline(&r->opts))) {
		ret = lading_error_set(err, ETIMEDOUT, "%s: no time left", realm);
		goto out;
	}
	if (r->opts.insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->userpwd)
		curl_easy_setopt(c, CURLOPT_USERPWD, r->userpwd);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
	if (cr != CURLE_OK || resp.status != 200) {
		ret = lading_error_set(err, EACCES, "%s: token request to %s failed "
				       "(%s)", r->host, realm, cr != CURLE_OK ?
				       curl_easy_strerror(cr) : resp.status == 401 ?
				       "401: wrong credentials?" : "HTTP error");
		goto out;
	}
	j = m.data ? json_loadb(m.data, m.len, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok) {
		json_decref(j);
		ret = lading_error_set(err, EPROTO, "%s: token response without "
				       "a token", realm);
		goto out;
	}
	free(r->token);
	r->token = strdup(tok);
	r->token_expiry = time(NULL) +
		(json_is_integer(json_object_get(j, "expires_in")) ?
		 (time_t)json_integer_value(json_object_get(j, "expires_in")) : 60) - 5;
	json_decref(j);
out:
	curl_free(es);
	curl_free(esc);
	free(url);
	free(m.data);
	return ret;
}

/* ---- requests --------------------------------------------------------- */

/* Aborts a transfer once the owner cancels (a filler shutting down). */
static int cancel_cb(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
		     curl_off_t uln)
{
	const volatile sig_atomic_t *cancel = ud;

	(void)dlt, (void)dln, (void)ult, (void)uln;
	return *cancel ? 1 : 0;
}

static void backoff(int attempt, long retry_after)
{
	long ms = retry_after > 0 ? retry_after * 1000 : 100L << attempt;

	if (ms > 10000)
		ms = 10000;
	usleep((useconds_t)ms * 1000);
}

/*
 * One request with auth and retries.  range: "a-b" or NULL.  The sink
 * sees the body of the final response only when its status is 2xx.
 */
/* A request body read from memory or a file, restartable for retries. */
struct upload {
	const uint8_t *mem;
	int fd;
	uint64_t len, pos;
};

static size_t upload_read(char *buf, size_t size, size_t n, void *ud)
{
	struct upload *up = ud;
	size_t want = size * n;
	ssize_t got;

	if (want > up->len - up->pos)
		want = (size_t)(up->len - up->pos);
	if (!want)
		return 0;
	if (up->mem) {
		memcpy(buf, up->mem + up->pos, want);
		got = (ssize_t)want;
	} else {
		got = pread(up->fd, buf, want, (off_t)up->pos);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	up->pos += (uint64_t)got;
	return (size_t)got;
}

struct req {
	const char *method;	/* NULL: GET */
	const char *accept;
	const char *range;
	const char *content_type;
	struct upload *up;	/* PUT body */
};

static int request_q(struct lading_registry *r, CURL *c, const char *url,
		     const struct req *q, struct response *resp,
		     struct lading_error *err);

static int request(struct lading_registry *r, CURL *c, const char *url,
		   const char *accept, const char *range, bool head,
		   struct response *resp, struct lading_error *err)
{
	struct req q = { .method = head ? "HEAD" : NULL, .accept = accept,
			 .range = range };

	return request_q(r, c, url, &q, resp, err);
}

static int request_q(struct lading_registry *r, CURL *c, const char *url,
		     const struct req *q, struct response *resp,
		     struct lading_error *err)
{
	const char *accept = q->accept, *range = q->range;
	int max = r->opts.max_retries ? r->opts.max_retries : 4;
	bool auth_tried = false;
	/* uploads (push) take as long as they take, at the minimum rate */
	int64_t deadline = q->up && !q->up->mem ? INT64_MAX : resp->deadline ?
			   resp->deadline : read_deadline(&r->opts);
	int attempt, ret;

	for (attempt = 0; ; attempt++) {
		struct curl_slist *hdrs = NULL;
		char authz[4096], rng[128], errbuf[CURL_ERROR_SIZE];
		CURLcode cr;

		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
		if (!set_limits(c, &r->opts, deadline))
			return timeout_error(&r->opts, "", url, deadline, err);
		errbuf[0] = '\0';
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		if (r->opts.cancel) {
			curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cancel_cb);
			curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)r->opts.cancel);
			curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		}
		if (q->method && !strcmp(q->method, "HEAD")) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else if (q->method && !strcmp(q->method, "PUT")) {
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
			curl_easy_setopt(c, CURLOPT_READDATA, q->up);
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)(q->up ? q->up->len : 0));
			if (q->up)
				q->up->pos = 0;	/* a retry sends it all again */
			hdrs = curl_slist_append(hdrs, "Expect:");
		} else if (q->method && !strcmp(q->method, "POST")) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		}
		if (q->content_type) {
			char ct[256];

			snprintf(ct, sizeof(ct), "Content-Type: %s", q->content_type);
			hdrs = curl_slist_append(hdrs, ct);
		}
		if (r->opts.insecure) {
			curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		if (accept)
			hdrs = curl_slist_append(hdrs, accept);
		pthread_mutex_lock(&r->lock);
		if (r->token && time(NULL) >= r->token_expiry) {
			/* expired: the next 401 fetches a fresh one */
			free(r->token);
			r->token = NULL;
		}
		if (r->token) {
			/* curl drops a custom Authorization on a redirect to
			 * another host: object stores never see the token */
			snprintf(authz, sizeof(authz), "Authorization: Bearer %s", r->token);
			hdrs = curl_slist_append(hdrs, authz);
		} else if (r->use_basic && r->userpwd) {
			curl_easy_setopt(c, CURLOPT_USERPWD, r->userpwd);
		}
		pthread_mutex_unlock(&r->lock);
		if (range) {
			snprintf(rng, sizeof(rng), "Range: bytes=%s", range);
			hdrs = curl_slist_append(hdrs, rng);
		}
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		resp->curl = c;
		resp->status = 0;
		if (resp->reset)
			resp->reset(resp->sink_ud);
		cr = curl_easy_perform(c);
		/* the buffer is this iteration's: the handle must not keep it */
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
		curl_slist_free_all(hdrs);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (cr == CURLE_WRITE_ERROR && resp->status / 100 == 2)
			return 0;	/* the sink had all it wanted */
		if (r->opts.cancel && *r->opts.cancel)
			return lading_error_set(err, ECANCELED, "%s: cancelled", url);
		/* a slow source stays slow: not retried */
		if (cr == CURLE_OPERATION_TIMEDOUT)
			return timeout_error(&r->opts, errbuf, url, deadline, err);
		if (cr == CURLE_OK && resp->status == 401 && !auth_tried) {
			auth_tried = true;
			pthread_mutex_lock(&r->lock);
			if (!strncasecmp(resp->www_auth, "Bearer", 6)) {
				ret = fetch_token(r, c, resp->www_auth, err);
			} else if (!strncasecmp(resp->www_auth, "Basic", 5) && r->userpwd) {
				r->use_basic = true;
				ret = 0;
			} else {
				ret = lading_error_set(err, EACCES, "%s: authentication "
					"required and no credentials (--creds or "
					"docker config)", r->host);
			}
			pthread_mutex_unlock(&r->lock);
			if (ret)
				return ret;
			attempt--;
			continue;
		}
		if (cr == CURLE_OK && resp->status != 429 && resp->status < 500)
			break;
		if (attempt >= max) {
			if (cr != CURLE_OK)
				return lading_error_set(err, EIO, "%s: %s (after %d tries)",
							url, curl_easy_strerror(cr),
							attempt + 1);
			return lading_error_set(err, EIO, "%s: HTTP %ld (after %d tries)",
						url, resp->status, attempt + 1);
		}
		lading_log_msg(r->opts.log, LADING_LOG_DEBUG, "%s: %s, retrying", url,
			       cr != CURLE_OK ? curl_easy_strerror(cr) : "server busy");
		backoff(attempt, resp->retry_after);
	}
	if (resp->status == 401 || resp->status == 403)
		return lading_error_set(err, EACCES, "%s: HTTP %ld: access denied "
					"(credentials?)", url, resp->status);
	if (resp->status == 404)
		return lading_error_set(err, ENOENT, "%s: not found", url);
	if (resp->status == 416)
		return lading_error_set(err, ERANGE, "%s: range not satisfiable", url);
	if (resp->status / 100 != 2)
		return lading_error_set(err, EIO, "%s: HTTP %ld", url, resp->status);
	return 0;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int lading_registry_open(const char *host, const char *repo,
			 const struct lading_registry_opts *opts,
			 struct lading_registry **out, struct lading_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct lading_registry *r = calloc(1, sizeof(*r));
	const char *at = strrchr(host, '@');
	char *userinfo = NULL;

	pthread_once(&once, global_init);
	if (!r)
		return lading_error_set(err, ENOMEM, "out of memory");
	r->opts = *opts;
	/*
	 * USER:PASS@HOST: the credentials go to curl apart, so no URL (and
	 * no message naming one) ever carries them
	 */
	if (at) {
		userinfo = strndup(host, (size_t)(at - host));
		host = at + 1;
	}
	r->host = strdup(host);
	r->repo = strdup(repo);
	r->base = malloc(strlen(host) + strlen(repo) + 32);
	r->curl = curl_easy_init();
	pthread_mutex_init(&r->lock, NULL);
	if (!r->host || !r->repo || !r->base || !r->curl || (at && !userinfo)) {
		free(userinfo);
		lading_registry_close(r);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	sprintf(r->base, "%s://%s/v2/%s", opts->plain_http ? "http" : "https",
		host, repo);
	r->userpwd = opts->creds ? strdup(opts->creds) : userinfo ? userinfo :
		     docker_config_creds(host);
	if (r->userpwd != userinfo)
		free(userinfo);
	*out = r;
	return 0;
}

int lading_registry_open_base_url(const char *base_url,
			     const struct lading_registry_opts *opts,
			     struct lading_registry **out, struct lading_error *err)
{
	const char *h = strstr(base_url, "://"), *path;
	size_t hl;
	char host[256];
	int ret;

	if (!h || (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8)))
		return lading_error_set(err, EINVAL, "%s: not an http(s) URL", base_url);
	h += 3;
	hl = strcspn(h, "/");
	if (!hl || hl >= sizeof(host))
		return lading_error_set(err, EINVAL, "%s: no host", base_url);
	memcpy(host, h, hl);
	host[hl] = '\0';
	ret = lading_registry_open(host, "", opts, out, err);
	if (ret)
		return ret;
	/* the base without any USER:PASS@ (lading_registry_open took it) */
	path = h + hl;
	hl = strlen(path);
	while (hl && path[hl - 1] == '/')
		hl--;
	free((*out)->base);
	(*out)->base = malloc(strlen((*out)->host) + hl + 16);
	(*out)->url_mode = true;
	if (!(*out)->base) {
		lading_registry_close(*out);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	sprintf((*out)->base, "%.*s%s%.*s", (int)(h - base_url), base_url,
		(*out)->host, (int)hl, path);
	return 0;
}

void lading_registry_close(struct lading_registry *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	pthread_mutex_destroy(&r->lock);
	free(r->host);
	free(r->repo);
	free(r->base);
	free(r->userpwd);
	free(r->token);
	free(r);
}

/* ---- documents, blobs, ranges ---------------------------------------- */

static char *url_for(const struct lading_registry *r, const char *kind,
		     const char *ref)
{
	char *u = malloc(strlen(r->base) + strlen(kind) + strlen(ref) + 3);

	if (u && r->url_mode)	/* a mirror of a blob directory */
		sprintf(u, "%s/%s", r->base,
			strncmp(ref, "sha256:", 7) ? ref : ref + 7);
	else if (u)
		sprintf(u, "%s/%s/%s", r->base, kind, ref);
	return u;
}

int lading_registry_get_manifest(struct lading_registry *r, const char *ref,
				 char **body, size_t *len, char **media_type,
				 char *digest, struct lading_error *err)
{
	struct membuf m = { .max = MANIFEST_MAX };
	struct response resp = { .sink = mem_sink, .reset = mem_reset, .sink_ud = &m };
	char *url = url_for(r, "manifests", ref);
	int ret;

	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = request(r, r->curl, url, ACCEPT_MANIFESTS, NULL, false, &resp, err);
	if (!ret && (m.overflow || !m.data))
		ret = lading_error_set(err, EFBIG, "%s: manifest empty or larger "
				       "than 4 MiB", url);
	if (!ret)
		ret = sha256_str(m.data, m.len, digest, err);
	if (!ret) {
		/* a digest reference pins the bytes; a tag is checked against
		 * what the registry says the digest is */
		if ((!strncmp(ref, "sha256:", 7) && strcmp(ref, digest)) ||
		    (resp.docker_digest[0] && strcmp(resp.docker_digest, digest)))
			ret = lading_error_set(err, EBADMSG, "%s: manifest digest "
					       "mismatch (got %s)", url, digest);
	}
	if (ret) {
		free(m.data);
		free(url);
		return ret;
	}
	*body = m.data;
	*len = m.len;
	*media_type = strdup(resp.ctype);
	free(url);
	return 0;
}

int lading_registry_get_blob(struct lading_registry *r, const char *digest,
			     size_t max, char **body, size_t *len,
			     struct lading_error *err)
{
	struct membuf m = { .max = max };
	struct response resp = { .sink = mem_sink, .reset = mem_reset, .sink_ud = &m };
	char *url = url_for(r, "blobs", digest), got[80];
	int ret;

	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = request(r, r->curl, url, NULL, NULL, false, &resp, err);
	if (!ret && m.overflow)
		ret = lading_error_set(err, EFBIG, "%s: larger than expected", url);
	if (!ret)
		ret = sha256_str(m.data ? m.data : "", m.len, got, err);
	if (!ret) {
		if (strcmp(got, digest))
			ret = lading_error_set(err, EBADMSG, "blob %s: received bytes "
					       "hash to %s", digest, got);
	}
	free(url);
	if (ret) {
		free(m.data);
		return ret;
	}
	*body = m.data ? m.data : calloc(1, 1);
	*len = m.len;
	return *body ? 0 : lading_error_set(err, ENOMEM, "out of memory");
}

/*
 * Range sink: a 206 answer starts at off; a server that ignores Range
 * answers 200 with the whole blob, whose first off bytes are skipped.
 * Returning less than given stops the transfer once the range is full.
 */
struct range_sink {
	CURL *curl;
	uint8_t *buf;
	size_t want, got;
	uint64_t off, skip;
	bool started;
};

static void range_reset(void *ud)
{
	struct range_sink *rs = ud;

	rs->got = 0;
	rs->started = false;
}

static size_t range_sink_write(const char *p, size_t n, void *ud)
{
	struct range_sink *rs = ud;
	size_t skip = 0, take;

	if (!rs->started) {
		long status = 0;

		curl_easy_getinfo(rs->curl, CURLINFO_RESPONSE_CODE, &status);
		rs->skip = status == 206 ? 0 : rs->off;
		rs->started = true;
	}
	if (rs->skip) {
		skip = n < rs->skip ? n : (size_t)rs->skip;
		rs->skip -= skip;
	}
	take = n - skip;
	if (take > rs->want - rs->got)
		take = rs->want - rs->got;
	memcpy(rs->buf + rs->got, p + skip, take);
	rs->got += take;
	return rs->got == rs->want && skip + take < n ? 0 : n;
}

static int get_range(struct lading_registry *r, CURL *c, const char *digest,
		     uint64_t off, size_t len, uint8_t *buf,
		     struct lading_error *err)
{
	struct range_sink rs = { .curl = c, .buf = buf, .want = len, .off = off };
	struct response resp = { .sink = range_sink_write, .reset = range_reset,
				 .sink_ud = &rs };
	char *url, range[64];
	int attempt, ret = 0;

	if (!len)
		return 0;
	url = url_for(r, "blobs", digest);
	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	resp.deadline = read_deadline(&r->opts);	/* for all the tries */
	/* a transfer cut short is asked again (request() retries errors) */
	for (attempt = 0; attempt < 3; attempt++) {
		rs.got = 0;
		rs.started = false;
		ret = request(r, c, url, NULL, range, false, &resp, err);
		if (ret || rs.got == len)
			break;
	}
	if (!ret && resp.status == 206 && !strncmp(resp.content_range, "bytes ", 6) &&
	    strtoull(resp.content_range + 6, NULL, 10) != off)
		ret = lading_error_set(err, EPROTO, "%s: Content-Range '%s' does not "
				       "start at %llu", url, resp.content_range,
				       (unsigned long long)off);
	if (!ret && rs.got != len)
		ret = lading_error_set(err, EIO, "%s: %zu of %zu bytes received",
				       url, rs.got, len);
	free(url);
	return ret;
}

int lading_registry_get_range(struct lading_registry *r, const char *digest,
			      uint64_t off, size_t len, uint8_t *buf,
			      struct lading_error *err)
{
	return get_range(r, r->curl, digest, off, len, buf, err);
}

/* A connection of its own, for one thread of parallel range requests. */
struct lading_registry_conn {
	struct lading_registry *r;
	CURL *curl;
	uint64_t first_byte_us;		/* of the last range read */
};

struct lading_registry_conn *lading_registry_conn_open(struct lading_registry *r)
{
	struct lading_registry_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->r = r;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return NULL;
	}
	return c;
}

void lading_registry_conn_close(struct lading_registry_conn *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

int lading_registry_conn_get_range(struct lading_registry_conn *c,
				   const char *digest, uint64_t off, size_t len,
				   uint8_t *buf, struct lading_error *err)
{
	curl_off_t t = 0;
	int ret = get_range(c->r, c->curl, digest, off, len, buf, err);

	/* the last try's: a retried read's first tries are not the link */
	c->first_byte_us = !ret && len &&
			   curl_easy_getinfo(c->curl, CURLINFO_STARTTRANSFER_TIME_T, &t) == CURLE_OK &&
			   t > 0 ? (uint64_t)t : 0;
	return ret;
}

uint64_t lading_registry_conn_first_byte_us(const struct lading_registry_conn *c)
{
	return c->first_byte_us;
}

/* ---- blob streams ------------------------------------------------------ */

struct blob_stream {
	struct lading_registry *r;
	CURL *curl;
	char *url;
	char digest[80];
	struct response resp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t readable, writable;
	uint8_t *ring;
	uint64_t head, tail;	/* bytes written / read */
	uint64_t delivered;	/* blob bytes put in the ring */
	uint64_t pos;		/* blob offset of the next byte received */
	uint64_t size;		/* what the blob must have, UINT64_MAX: unknown */
	unsigned gen;
	bool done, stop, too_long;
	int error;
	struct lading_error err;
};

/* Puts received bytes in the ring, skipping what an earlier try sent. */
static size_t stream_sink(const char *p, size_t n, void *ud)
{
	struct blob_stream *bs = ud;
	size_t i = 0;

	if (bs->gen != bs->resp.generation) {
		long status = 0;

		curl_easy_getinfo(bs->curl, CURLINFO_RESPONSE_CODE, &status);
		bs->gen = bs->resp.generation;
		bs->pos = status == 206 && !strncmp(bs->resp.content_range, "bytes ", 6) ?
			strtoull(bs->resp.content_range + 6, NULL, 10) : 0;
	}
	if (bs->pos < bs->delivered) {
		uint64_t skip = bs->delivered - bs->pos;

		i = n < skip ? n : (size_t)skip;
		bs->pos += i;
	}
	if (bs->pos > bs->delivered)
		return 0;	/* a gap: this answer is unusable */
	if (i < n && (bs->delivered > bs->size || n - i > bs->size - bs->delivered)) {
		/* more than the descriptor said: never read past its size */
		bs->too_long = true;
		return 0;
	}
	pthread_mutex_lock(&bs->lock);
	while (i < n) {
		uint64_t space, at;
		size_t chunk;

		while (bs->head - bs->tail == STREAM_BUF && !bs->stop)
			pthread_cond_wait(&bs->writable, &bs->lock);
		if (bs->stop)
			break;
		space = STREAM_BUF - (bs->head - bs->tail);
		at = bs->head % STREAM_BUF;
		chunk = n - i;
		if (chunk > space)
			chunk = (size_t)space;
		if (chunk > STREAM_BUF - at)
			chunk = (size_t)(STREAM_BUF - at);
		memcpy(bs->ring + at, p + i, chunk);
		bs->head += chunk;
		bs->delivered += chunk;
		bs->pos += chunk;
		i += chunk;
		pthread_cond_signal(&bs->readable);
	}
	pthread_mutex_unlock(&bs->lock);
	return bs->stop ? 0 : n;
}

static void *stream_main(void *arg)
{
	struct blob_stream *bs = arg;
	int ret = 0, tries;

	/* one deadline for the whole stream, resumes included */
	bs->resp.deadline = read_deadline(&bs->r->opts);
	for (tries = 0; tries < 5; tries++) {
		uint64_t before = bs->delivered;
		char range[40];

		lading_error_clear(&bs->err);
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)bs->delivered);
		ret = request(bs->r, bs->curl, bs->url, NULL,
			      bs->delivered ? range : NULL, false, &bs->resp, &bs->err);
		if (bs->too_long) {
			ret = lading_error_set(&bs->err, EFBIG, "%s: more than the "
					       "%llu bytes the descriptor gives",
					       bs->url, (unsigned long long)bs->size);
			break;
		}
		if (!ret && bs->size != UINT64_MAX && bs->delivered < bs->size &&
		    !bs->stop) {
			/* a body that ends early (no Content-Length) */
			ret = lading_error_set(&bs->err, EIO, "%s: %llu of %llu "
					       "bytes received", bs->url,
					       (unsigned long long)bs->delivered,
					       (unsigned long long)bs->size);
			if (bs->delivered == before)
				break;
			continue;
		}
		/* cut off mid-blob after some progress: resume where it
		 * broke; a timeout is final */
		if (!ret || bs->stop || bs->delivered == before || ret == -ETIMEDOUT)
			break;
	}
	pthread_mutex_lock(&bs->lock);
	bs->error = ret;
	bs->done = true;
	pthread_cond_signal(&bs->readable);
	pthread_mutex_unlock(&bs->lock);
	return NULL;
}

static ssize_t stream_read(void *ud, void *buf, size_t len)
{
	struct blob_stream *bs = ud;
	uint64_t avail, at;
	size_t n;

	pthread_mutex_lock(&bs->lock);
	while (bs->head == bs->tail && !bs->done)
		pthread_cond_wait(&bs->readable, &bs->lock);
	if (bs->head == bs->tail) {
		int err = bs->error;

		/* the reason stays in bs->err for blob_stream_error() */
		pthread_mutex_unlock(&bs->lock);
		return err ? err : 0;
	}
	avail = bs->head - bs->tail;
	at = bs->tail % STREAM_BUF;
	n = len;
	if (n > avail)
		n = (size_t)avail;
	if (n > STREAM_BUF - at)
		n = (size_t)(STREAM_BUF - at);
	memcpy(buf, bs->ring + at, n);
	bs->tail += n;
	pthread_cond_signal(&bs->writable);
	pthread_mutex_unlock(&bs->lock);
	return (ssize_t)n;
}

int lading_registry_blob_stream(struct lading_registry *r, const char *digest,
				uint64_t size, lading_read_fn *fn, void **ud,
				struct lading_error *err)
{
	struct blob_stream *bs = calloc(1, sizeof(*bs));

	*ud = NULL;
	if (!bs)
		return lading_error_set(err, ENOMEM, "out of memory");
	bs->r = r;
	bs->size = size;
	bs->curl = curl_easy_init();
	bs->url = url_for(r, "blobs", digest);
	bs->ring = malloc(STREAM_BUF);
	snprintf(bs->digest, sizeof(bs->digest), "%s", digest);
	bs->resp.sink = stream_sink;
	bs->resp.sink_ud = bs;
	bs->gen = ~0u;
	pthread_mutex_init(&bs->lock, NULL);
	pthread_cond_init(&bs->readable, NULL);
	pthread_cond_init(&bs->writable, NULL);
	if (!bs->curl || !bs->url || !bs->ring ||
	    pthread_create(&bs->thread, NULL, stream_main, bs)) {
		if (bs->curl)
			curl_easy_cleanup(bs->curl);
		free(bs->url);
		free(bs->ring);
		free(bs);
		return lading_error_set(err, ENOMEM, "cannot start a download");
	}
	*fn = stream_read;
	*ud = bs;
	return 0;
}

const char *lading_registry_blob_stream_error(void *ud)
{
	struct blob_stream *bs = ud;
	const char *msg = NULL;

	if (!bs)
		return NULL;
	pthread_mutex_lock(&bs->lock);
	if (bs->done && bs->error && bs->err.msg[0])
		msg = bs->err.msg;
	pthread_mutex_unlock(&bs->lock);
	return msg;
}

void lading_registry_blob_stream_close(void *ud)
{
	struct blob_stream *bs = ud;

	if (!bs)
		return;
	pthread_mutex_lock(&bs->lock);
	bs->stop = true;
	pthread_cond_signal(&bs->writable);
	pthread_mutex_unlock(&bs->lock);
	pthread_join(bs->thread, NULL);
	pthread_mutex_destroy(&bs->lock);
	pthread_cond_destroy(&bs->readable);
	pthread_cond_destroy(&bs->writable);
	curl_easy_cleanup(bs->curl);
	free(bs->url);
	free(bs->ring);
	free(bs);
}

/* ---- push -------------------------------------------------------------- */

int lading_registry_blob_exists(struct lading_registry *r, const char *digest,
				bool *exists, struct lading_error *err)
{
	struct response resp = { 0 };
	struct lading_error e = { 0 };
	char *url = url_for(r, "blobs", digest);
	int ret;

	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = request(r, r->curl, url, NULL, NULL, true, &resp, &e);
	free(url);
	*exists = !ret;
	if (ret == -ENOENT)
		return 0;
	if (ret)
		lading_error_set(err, -ret, "%s", e.msg);
	return ret;
}

int lading_registry_blob_size(struct lading_registry *r, const char *digest,
			      uint64_t *size, struct lading_error *err)
{
	struct response resp = { 0 };
	curl_off_t len = -1;
	char *url = url_for(r, "blobs", digest);
	int ret;

	*size = UINT64_MAX;
	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = request(r, r->curl, url, NULL, NULL, true, &resp, err);
	free(url);
	if (!ret && curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				      &len) == CURLE_OK && len >= 0)
		*size = (uint64_t)len;
	return ret;
}

/* An upload URL from Location (often relative), with the digest added. */
static char *upload_url(const struct lading_registry *r, const char *location,
			const char *digest)
{
	const char *scheme = r->opts.plain_http ? "http" : "https";
	size_t n = strlen(location) + strlen(r->host) + strlen(digest) + 32;
	char *u = malloc(n);

	if (!u)
		return NULL;
	if (location[0] == '/')
		snprintf(u, n, "%s://%s%s", scheme, r->host, location);
	else
		snprintf(u, n, "%s", location);
	if (digest) {
		size_t l = strlen(u);

		snprintf(u + l, n - l, "%cdigest=%s", strchr(u, '?') ? '&' : '?',
			 digest);
	}
	return u;
}

int lading_registry_push_blob(struct lading_registry *r, const char *path,
			      const char *digest, const char *mount_from,
			      struct lading_error *err)
{
	struct upload up = { .fd = -1 };
	struct response resp = { 0 };
	struct req q = { .method = "POST" };
	struct stat st;
	char *url = NULL, *put = NULL;
	bool exists;
	int ret;

	ret = lading_registry_blob_exists(r, digest, &exists, err);
	if (ret || exists)
		return ret;
	url = malloc(strlen(r->base) + strlen(digest) + (mount_from ? strlen(mount_from) : 0) + 64);
	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	/* cross-repository mount first: no bytes move if it works (201) */
	if (mount_from)
		sprintf(url, "%s/blobs/uploads/?mount=%s&from=%s", r->base, digest,
			mount_from);
	else
		sprintf(url, "%s/blobs/uploads/", r->base);
	ret = request_q(r, r->curl, url, &q, &resp, err);
	if (!ret && resp.status == 201)
		goto out;
	if (!ret && (resp.status != 202 || !resp.location[0]))
		ret = lading_error_set(err, EPROTO, "%s: upload session: HTTP %ld "
				       "without a Location", url, resp.status);
	if (ret)
		goto out;
	up.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (up.fd < 0 || fstat(up.fd, &st) < 0) {
		ret = lading_error_set(err, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	up.len = (uint64_t)st.st_size;
	put = upload_url(r, resp.location, digest);
	if (!put) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* monolithic upload: one PUT with the whole blob and its digest */
	q = (struct req){ .method = "PUT", .up = &up,
			  .content_type = "application/octet-stream" };
	ret = request_q(r, r->curl, put, &q, &resp, err);
	if (!ret && resp.status != 201)
		ret = lading_error_set(err, EPROTO, "%s: blob upload: HTTP %ld", put,
				       resp.status);
	if (!ret && resp.docker_digest[0] && strcmp(resp.docker_digest, digest))
		ret = lading_error_set(err, EBADMSG, "blob %s: the registry stored %s",
				       digest, resp.docker_digest);
out:
	if (up.fd >= 0)
		close(up.fd);
	free(url);
	free(put);
	return ret;
}

/*
 * PUT a manifest under ref; subject (or NULL) receives the OCI-Subject
 * header of the answer ("" when none).
 */
static int put_manifest(struct lading_registry *r, const char *ref,
			const void *body, size_t len, const char *media_type,
			char *subject, struct lading_error *err)
{
	struct upload up = { .mem = body, .fd = -1, .len = len };
	struct req q = { .method = "PUT", .up = &up, .content_type = media_type };
	struct response resp = { 0 };
	char *url = url_for(r, "manifests", ref), digest[80];
	int ret;

	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = sha256_str(body, len, digest, err);
	if (!ret)
		ret = request_q(r, r->curl, url, &q, &resp, err);
	if (!ret && resp.status != 201)
		ret = lading_error_set(err, EPROTO, "%s: HTTP %ld", url, resp.status);
	if (!ret && resp.docker_digest[0] && strcmp(resp.docker_digest, digest))
		ret = lading_error_set(err, EBADMSG, "manifest: the registry says %s, "
				       "the bytes hash to %s", resp.docker_digest, digest);
	if (!ret && subject)
		memcpy(subject, resp.oci_subject, sizeof(resp.oci_subject));
	free(url);
	return ret;
}

int lading_registry_put_manifest(struct lading_registry *r, const char *ref,
				 const void *body, size_t len,
				 const char *media_type, struct lading_error *err)
{
	return put_manifest(r, ref, body, len, media_type, NULL, err);
}

int lading_registry_put_referrer(struct lading_registry *r, const void *body,
				 size_t len, const char *media_type,
				 const char *subject, bool *recorded,
				 struct lading_error *err)
{
	char digest[80], got[sizeof(((struct response *)0)->oci_subject)];
	int ret = sha256_str(body, len, digest, err);

	if (!ret)
		ret = put_manifest(r, digest, body, len, media_type, got, err);
	*recorded = !ret && !strcmp(got, subject);
	return ret;
}

int lading_registry_get_referrers(struct lading_registry *r, const char *digest,
				  char **body, size_t *len, struct lading_error *err)
{
	struct membuf m = { .max = MANIFEST_MAX };
	struct response resp = { .sink = mem_sink, .reset = mem_reset, .sink_ud = &m };
	struct lading_error e = { 0 };
	char *url = url_for(r, "referrers", digest);
	int ret;

	*body = NULL;
	*len = 0;
	if (!url)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = request(r, r->curl, url,
		      "Accept: application/vnd.oci.image.index.v1+json", NULL, false,
		      &resp, &e);
	/* a registry without the API: 404, or another refusal of the path */
	if (ret == -ENOENT || (ret == -EIO && resp.status / 100 == 4)) {
		free(m.data);
		free(url);
		return 0;
	}
	if (!ret && m.overflow)
		ret = lading_error_set(&e, EFBIG, "%s: larger than 4 MiB", url);
	free(url);
	if (ret) {
		free(m.data);
		return lading_error_set(err, -ret, "%s", e.msg);
	}
	*body = m.data ? m.data : calloc(1, 1);
	*len = m.len;
	return *body ? 0 : lading_error_set(err, ENOMEM, "out of memory");
}
