// SPDX-License-Identifier: MIT
/* lading-fill: argument parsing, signals, daemon mode and reporting. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include <lading/fill.h>

#define PROG "lading-fill"
#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)
#define DEFAULT_TIMEOUT_MS 30000u

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

enum {
	OPT_SOURCE = 256,
	OPT_CACHE,
	OPT_BACKEND,
	OPT_FSID,
	OPT_DOMAIN_ID,
	OPT_IMAGE,
	OPT_CONFIG,
	OPT_TAG,
	OPT_JOBS,
	OPT_TIMEOUT,
	OPT_PREFETCH,
	OPT_PREFETCH_LIST,
	OPT_DAEMON,
	OPT_PID_FILE,
	OPT_PREFETCH_TRACE,
	OPT_READAHEAD,
	OPT_RECORD,
	OPT_RECORD_DURATION,
};

static const struct option long_options[] = {
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "fsid", required_argument, NULL, OPT_FSID },
	{ "domain-id", required_argument, NULL, OPT_DOMAIN_ID },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "prefetch", no_argument, NULL, OPT_PREFETCH },
	{ "prefetch-list", required_argument, NULL, OPT_PREFETCH_LIST },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	CLI_REF_LONG_OPTIONS,
	{ "prefetch-trace", required_argument, NULL, OPT_PREFETCH_TRACE },
	{ "readahead", required_argument, NULL, OPT_READAHEAD },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "record-duration", required_argument, NULL, OPT_RECORD_DURATION },
	CLI_REGISTRY_LONG_OPTIONS,
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stop_requested, report_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_report(int sig)
{
	(void)sig;
	report_requested = 1;
}

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " mount [OPTIONS] REF MOUNTPOINT --cache DIR [--source SRC]\n"
"       " PROG " serve [OPTIONS] --image REF,fsid=ID[,domain_id=D]...\n"
"                          --cache DIR [--source SRC]\n"
"       " PROG " trace-merge OUT TRACE...\n"
"Serve a lading image before its data is local: reads wait while the filler\n"
"fetches, verifies and writes the chunks they need.\n"
"\n"
"mount: prepares the cache, serves it and mounts the image on MOUNTPOINT.\n"
"serve: cachefiles back end for several images; mount each yourself with\n"
"       mount -t erofs none -o fsid=ID[,domain_id=D] DIR\n"
"\n"
CLI_REF_HELP
"                           (its bootstrap is fetched, checked and kept in\n"
"                           the cache with the resolution: a restart with\n"
"                           the registry unreachable uses them)\n"
"      --source SRC         a blob directory or docker://HOST/REPO\n"
"                           (repeatable, searched in order, before REF's\n"
"                           own repository; required for a bootstrap path)\n"
"      --cache DIR          cache directory, made if missing (plain layout\n"
"                           for fanotify, cachefiles layout for cachefiles);\n"
"                           pre-seeded data is used, never fetched again\n"
"      --backend fanotify|cachefiles|auto\n"
"                           fanotify: pre-content events on a file-backed\n"
"                           mount (Linux 6.14+); cachefiles: on-demand mode\n"
"                           (CONFIG_CACHEFILES_ONDEMAND); auto (default):\n"
"                           fanotify when the kernel has it, and says why\n"
"      --fsid ID            mount, cachefiles: the fsid (default: from the\n"
"                           bootstrap's digest)\n"
"      --domain-id D        mount, cachefiles: share blobs within domain D\n"
"      --image REF,fsid=ID[,domain_id=D]\n"
"                           serve: an image (repeatable)\n"
"      --config FILE        serve: images, one per line:\n"
"                           REF fsid=ID [domain_id=D]\n"
"      --tag TAG            cachefiles: the cache's tag\n"
"      --jobs N             parallel fetches (default 4)\n"
"      --timeout SECS       fail a kernel request with EIO after SECS\n"
"                           (default 30; 0: wait for the source)\n"
"      --prefetch           after mounting, fill the rest in the background,\n"
"                           behind on-demand reads\n"
"      --prefetch-list FILE read these paths (one per line) first\n"
"      --prefetch-trace FILE  fetch the chunks of this trace (--record) at\n"
"                           once, in its order, behind on-demand reads\n"
"                           (default: the one published with REF, if any)\n"
"      --readahead SIZE     largest readahead window per file (default 4M;\n"
"                           0: none); at a file's end it goes on into the\n"
"                           files stored after it, up to 512 KiB\n"
"      --record FILE        mount: write the order in which chunks were\n"
"                           first needed (at exit, and on SIGUSR1)\n"
"      --record-duration SECS  stop recording after SECS\n"
"      --daemon             detach once serving (and mounted)\n"
"      --pid-file FILE      write the serving process's pid\n"
CLI_REGISTRY_HELP
"      --json               statistics as JSON (at exit and on SIGUSR1)\n"
"  -v, --verbose / -q, --quiet / -h, --help / -V, --version\n"
"\n"
"Runs until SIGINT or SIGTERM, then unmounts.  SIGUSR1 prints statistics\n"
"on stderr.  trace-merge: one trace of several, each chunk once, at its\n"
"earliest time.\n"
"Exit status: 0 clean exit, 1 failure (mount, source, kernel support),\n"
"2 usage error.\n", out);
}

/* The statistics' JSON names, in struct order. */
#define STAT(f) { #f, offsetof(struct lading_fill_stats, f) }
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	STAT(requests), STAT(hits), STAT(chunks_fetched), STAT(bytes_fetched),
	STAT(stored_bytes_fetched), STAT(fetches), STAT(readahead_chunks),
	STAT(trace_chunks),
	STAT(verify_failures), STAT(fetch_errors),
	STAT(denied), STAT(timeouts), STAT(blobs_completed), STAT(objects_opened),
	STAT(objects_refused), STAT(latency_p50_us), STAT(latency_p99_us),
	STAT(miss_latency_p50_us), STAT(miss_latency_p99_us),
};
#undef STAT

/* One line per report: SIGUSR1 prints one each time (man/lading-fill.1). */
static void print_json_stats(FILE *out, const struct lading_fill_stats *s,
			     json_t *resolved)
{
	json_t *o = json_object();
	size_t i;

	/* mount: the image's keys at the top; serve: one object per image */
	if (o && json_array_size(resolved) == 1)
		json_object_update(o, json_array_get(resolved, 0));
	if (o && json_array_size(resolved) > 1)
		json_object_set(o, "images", resolved);

	for (i = 0; o && i < LADING_ARRAY_SIZE(stat_fields); i++) {
		uint64_t v;

		memcpy(&v, (const char *)s + stat_fields[i].off, sizeof(v));
		json_object_set_new(o, stat_fields[i].name, lading_json_u64(v));
	}
	lading_json_print(out, o, true);
}

static void print_stats(FILE *out, const struct lading_fill_stats *s, bool json,
			json_t *resolved)
{
	if (json) {
		print_json_stats(out, s, resolved);
	} else {
		fprintf(out, "%llu requests (%llu from the cache), %llu chunks / %llu "
			"bytes fetched, %llu verification failures, %llu denied (%llu "
			"timed out); latency p50 %llu us, p99 %llu us (when fetching: "
			"p50 %llu us, p99 %llu us)\n",
			(unsigned long long)s->requests, (unsigned long long)s->hits,
			(unsigned long long)s->chunks_fetched,
			(unsigned long long)s->bytes_fetched,
			(unsigned long long)s->verify_failures,
			(unsigned long long)s->denied, (unsigned long long)s->timeouts,
			(unsigned long long)s->latency_p50_us,
			(unsigned long long)s->latency_p99_us,
			(unsigned long long)s->miss_latency_p50_us,
			(unsigned long long)s->miss_latency_p99_us);
	}
	fflush(out);
}

/* ---- images ----------------------------------------------------------- */

struct image_list {
	struct lading_fill_image *v;
	size_t n;
	char **owned;			/* strings made here */
	size_t nowned;
};

static char *own(struct image_list *l, char *s)
{
	char **n = s ? realloc(l->owned, (l->nowned + 1) * sizeof(*n)) : NULL;

	if (!n) {
		free(s);
		return NULL;
	}
	l->owned = n;
	l->owned[l->nowned++] = s;
	return s;
}

/* Adds BOOTSTRAP with its fsid=/domain_id= options (from opts, comma-split). */
static int add_image(struct image_list *l, char *bootstrap, char *opts,
		     const char *where)
{
	struct lading_fill_image im = { .bootstrap = bootstrap }, *n;
	char *save = NULL, *o;

	for (o = strtok_r(opts, ", \t", &save); o; o = strtok_r(NULL, ", \t", &save)) {
		if (!strncmp(o, "fsid=", 5) && o[5])
			im.fsid = o + 5;
		else if (!strncmp(o, "domain_id=", 10) && o[10])
			im.domain_id = o + 10;
		else
			return usage_error("%s: unknown image option '%s' (fsid=, "
					   "domain_id=)", where, o);
	}
	if (!im.fsid)
		return usage_error("%s: image %s has no fsid=", where, bootstrap);
	n = realloc(l->v, (l->n + 1) * sizeof(*n));
	if (!n)
		return EXIT_FAILED;
	l->v = n;
	l->v[l->n++] = im;
	return 0;
}

static int parse_image_option(struct image_list *l, const char *arg)
{
	char *s = own(l, strdup(arg)), *opts;

	if (!s)
		return EXIT_FAILED;
	opts = strstr(s, ",fsid=");
	if (!opts)
		return usage_error("--image %s: expected REF,fsid=ID"
				   "[,domain_id=D]", arg);
	*opts++ = '\0';
	return add_image(l, s, opts, "--image");
}

static int parse_config(struct image_list *l, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[4096], where[4200];
	unsigned lineno = 0;
	int ret = 0;

	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return EXIT_FAILED;
	}
	while (!ret && fgets(line, sizeof(line), f)) {
		char *s, *end, *boot;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		s = line + strspn(line, " \t");
		if (!*s || *s == '#')
			continue;
		end = s + strcspn(s, " \t");
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		boot = own(l, strndup(s, (size_t)(end - s)));
		s = own(l, strdup(end));
		ret = boot && s ? add_image(l, boot, s, where) : EXIT_FAILED;
	}
	fclose(f);
	return ret;
}

static void image_list_free(struct image_list *l)
{
	size_t i;

	for (i = 0; i < l->nowned; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->v);
}

/* ---- daemon ----------------------------------------------------------- */

struct daemon_state {
	json_t *resolved;		/* --json: what each REF resolved to */
	int ready_fd;			/* write end of the parent's pipe, or -1 */
	const char *pid_file;
	const struct lading_log *log;
	bool json;
	bool trace_file;		/* --prefetch-trace given */
};

/*
 * Forks before any thread exists; the parent waits until the child says
 * it is serving (exit 0) or failed (exit 1), so `--daemon` returns only
 * once the mount is usable.
 */
static int daemonize(struct daemon_state *d)
{
	int fds[2], null;
	pid_t pid;
	char c = 1;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		int status;

		close(fds[1]);
		if (read(fds[0], &c, 1) == 1 && !c)
			exit(EXIT_OK);
		/* it died before it was ready; its own message says why,
		 * unless a signal killed it */
		if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			fprintf(stderr, PROG ": the serving process was killed by "
				"signal %d before it was ready\n", WTERMSIG(status));
		exit(EXIT_FAILED);
	}
	close(fds[0]);
	d->ready_fd = fds[1];
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return 0;
}

static void on_ready(void *ud)
{
	struct daemon_state *d = ud;
	struct lading_error err = { 0 };
	char ok = 0, pid[32];
	int n;

	/* whole or not at all, like every file the tools publish */
	if (d->pid_file) {
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (lading_write_file_atomic(d->pid_file, pid, (size_t)n, &err))
			lading_log_msg(d->log, LADING_LOG_WARN, "%s", err.msg);
	}
	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, &ok, 1) != 1)
			lading_log_msg(d->log, LADING_LOG_WARN, "cannot tell the parent");
		close(d->ready_fd);
		d->ready_fd = -1;
	}
}

static void on_resolved(const struct lading_resolution *r, void *ud)
{
	struct daemon_state *d = ud;
	json_t *o = json_object();

	cli_resolution_log(d->log, r);
	if (!o || !d->resolved) {
		json_decref(o);
		return;
	}
	cli_resolution_json(o, r);
	/* which trace mount replays: the given file wins over the image's */
	json_object_set_new(o, "trace_source", d->trace_file ? json_string("file") :
			    r->trace_path ? json_string("published") : json_null());
	json_array_append_new(d->resolved, o);
}

static void on_report_stats(const struct lading_fill_stats *st, void *ud)
{
	const struct daemon_state *d = ud;

	print_stats(stderr, st, d->json, d->resolved);
}

/* ---- main ------------------------------------------------------------- */

static int parse_seconds(const char *opt, const char *arg, unsigned *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno || end == arg || *end || s < 0 || s > 86400)
		return usage_error("invalid %s '%s' (seconds, 0 to 86400)", opt, arg);
	*ms = (unsigned)(s * 1000 + 0.5);
	if (s > 0 && !*ms)
		*ms = 1;
	return 0;
}

/* trace-merge OUT IN...: written only when every input parsed. */
static int trace_merge(int n, char **argv, const struct lading_log *log)
{
	struct lading_trace *in = calloc((size_t)n, sizeof(*in)), out = { 0 };
	struct lading_error err = { 0 };
	int i, ret = 0;

	if (!in)
		return EXIT_FAILED;
	for (i = 1; i < n && !ret; i++)
		ret = lading_trace_load(argv[i], &in[i - 1], &err);
	if (!ret)
		ret = lading_trace_merge(&out, in, (size_t)n - 1, &err);
	if (!ret)
		ret = lading_trace_write(argv[0], &out, &err);
	if (ret)
		lading_log_msg(log, LADING_LOG_ERROR, "%s", lading_error_message(&err, ret));
	for (i = 0; i < n; i++)
		lading_trace_free(&in[i]);
	lading_trace_free(&out);
	free(in);
	return ret ? EXIT_FAILED : EXIT_OK;
}

static int parse_backend(const char *arg, enum lading_fill_backend *b)
{
	if (lading_fill_backend_parse(arg, b))
		return usage_error("unknown back end '%s' (fanotify, cachefiles, auto)",
				   arg);
	return 0;
}

struct fill_cli {
	struct lading_log log;
	struct lading_fill_params p;
	struct daemon_state d;
	struct lading_fill_image mount_image;
	struct image_list images;
	struct cli_output out;
	const char **sources;
	size_t nsources;
	bool daemon;
};

/* CLI_CONTINUE when the options parsed, else the exit status. */
static int parse_options(int argc, char **argv, struct fill_cli *a)
{
	int64_t jobs;
	uint64_t size;
	unsigned record_ms;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "vqhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_SOURCE:
			a->sources[a->nsources++] = optarg;
			break;
		case OPT_CACHE:
			a->p.cache_dir = optarg;
			break;
		case OPT_BACKEND:
			ret = parse_backend(optarg, &a->p.backend);
			break;
		case OPT_FSID:
			a->mount_image.fsid = optarg;
			break;
		case OPT_DOMAIN_ID:
			a->mount_image.domain_id = optarg;
			break;
		case OPT_IMAGE:
			ret = parse_image_option(&a->images, optarg);
			break;
		case OPT_CONFIG:
			ret = parse_config(&a->images, optarg);
			break;
		case OPT_TAG:
			a->p.cachefiles_tag = optarg;
			break;
		case OPT_JOBS:
			if (lading_parse_int64(optarg, 1, 64, &jobs))
				ret = usage_error("invalid --jobs '%s' (1 to 64)", optarg);
			else
				a->p.jobs = (unsigned)jobs;
			break;
		case OPT_TIMEOUT:
			ret = parse_seconds("--timeout", optarg, &a->p.timeout_ms);
			break;
		case OPT_PREFETCH:
			a->p.prefetch = true;
			break;
		case OPT_PREFETCH_LIST:
			a->p.prefetch_list = optarg;
			break;
		case OPT_DAEMON:
			a->daemon = true;
			break;
		case OPT_PID_FILE:
			a->d.pid_file = optarg;
			break;
		case CLI_OPT_PLATFORM:
			a->p.platform = optarg;
			break;
		case OPT_PREFETCH_TRACE:
			a->p.prefetch_trace = optarg;
			break;
		case OPT_READAHEAD:
			if (lading_parse_size(optarg, &size) || size > (1u << 30))
				ret = usage_error("invalid --readahead '%s' (a size up to "
						  "1G, 0: none)", optarg);
			a->p.readahead = size;
			break;
		case OPT_RECORD:
			a->p.record = optarg;
			break;
		case OPT_RECORD_DURATION:
			ret = parse_seconds("--record-duration", optarg, &record_ms);
			a->p.record_ms = record_ms;
			break;
		default:
			if (cli_registry_option(c, optarg, &a->p.registry))
				break;
			ret = cli_common_option(c, PROG, &a->log, &a->out, usage);
			a->d.json = a->out.json;
			if (ret == CLI_CONTINUE) {
				ret = 0;
				break;
			}
			return ret;	/* --help and --version end here too */
		}
		if (ret)
			return ret;
	}
	return CLI_CONTINUE;
}

/* The operands and the options that go together: 0 or the exit status. */
static int check_operands(int argc, char **argv, const struct fill_cli *a, bool serve)
{
	const struct lading_fill_params *p = &a->p;

	if (serve ? argc - optind != 1 || !a->images.n :
	    argc - optind != 3 || strcmp(argv[optind], "mount") || a->images.n)
		return usage_error("expected: mount REF MOUNTPOINT, or serve "
				   "--image REF,fsid=ID...");
	if (!p->cache_dir)
		return usage_error("--cache DIR is required");
	if (serve && (a->mount_image.fsid || a->mount_image.domain_id ||
		      p->prefetch_list || p->prefetch_trace || p->record))
		return usage_error("serve takes fsid/domain_id in --image; --prefetch-list, "
				   "--prefetch-trace and --record need mount");
	if (!serve && p->backend == LADING_FILL_FANOTIFY &&
	    (a->mount_image.fsid || a->mount_image.domain_id))
		return usage_error("--fsid and --domain-id belong to the cachefiles "
				   "back end");
	if (!serve && !a->mount_image.fsid && a->mount_image.domain_id)
		return usage_error("--domain-id needs --fsid");
	return 0;
}

/* Serves or mounts until stopped, then reports: the exit status. */
static int run_fill(struct fill_cli *a, bool serve, char **operands)
{
	struct sigaction sa = { .sa_handler = on_stop }, su = { .sa_handler = on_report };
	struct lading_fill_params *p = &a->p;
	struct lading_fill_stats st;
	struct lading_error err = { 0 };
	int ret;

	if (a->daemon && (ret = daemonize(&a->d))) {
		lading_log_msg(&a->log, LADING_LOG_ERROR, "cannot detach: %s",
			       strerror(-ret));
		return EXIT_FAILED;
	}
	p->sources = a->sources;
	p->nsources = a->nsources;
	p->log = &a->log;
	p->registry.log = &a->log;
	p->ready_fn = on_ready;
	p->resolved_fn = on_resolved;
	a->d.trace_file = p->prefetch_trace != NULL;
	a->d.resolved = json_array();
	p->report_fn = on_report_stats;
	p->ud = &a->d;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &su, NULL);
	/* fanotify: a write lease that tests whether a cache file is still
	 * open signals SIGIO when an open breaks it */
	signal(SIGIO, SIG_IGN);
	if (serve) {
		p->images = a->images.v;
		p->nimages = a->images.n;
		ret = lading_fill_serve(p, &st, &err);
	} else {
		p->bootstrap = operands[1];
		p->mountpoint = operands[2];
		if (a->mount_image.fsid) {
			a->mount_image.bootstrap = p->bootstrap;
			p->images = &a->mount_image;
			p->nimages = 1;
		}
		ret = lading_fill_mount(p, &st, &err);
	}
	if (ret)
		lading_log_msg(&a->log, LADING_LOG_ERROR, "%s",
			       lading_error_message(&err, ret));
	else if (a->d.json || a->log.level >= LADING_LOG_INFO)
		print_stats(a->daemon ? stderr : stdout, &st, a->d.json, a->d.resolved);
	if (a->d.pid_file && !ret)
		unlink(a->d.pid_file);
	return ret ? EXIT_FAILED : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct fill_cli a = {
		.log = { .prog = PROG, .level = LADING_LOG_INFO },
		.p = { .stop = &stop_requested, .report = &report_requested,
		       .timeout_ms = DEFAULT_TIMEOUT_MS,
		       .readahead = LADING_FILL_READAHEAD_DEFAULT },
		.d = { .ready_fd = -1 },
		.out = { .progress = false },	/* no progress line */
	};
	bool serve;
	int ret;

	a.d.log = &a.log;
	cli_init_locale();
	a.sources = calloc((size_t)argc, sizeof(*a.sources));
	if (!a.sources)
		return EXIT_FAILED;
	ret = parse_options(argc, argv, &a);
	if (ret != CLI_CONTINUE)
		goto out;
	if (optind < argc && !strcmp(argv[optind], "trace-merge")) {
		ret = argc - optind < 3 ? usage_error("expected: trace-merge OUT TRACE...") :
		      trace_merge(argc - optind - 1, argv + optind + 1, &a.log);
		goto out;
	}
	serve = optind < argc && !strcmp(argv[optind], "serve");
	ret = check_operands(argc, argv, &a, serve);
	if (!ret)
		ret = run_fill(&a, serve, argv + optind);
out:
	json_decref(a.d.resolved);
	image_list_free(&a.images);
	free(a.sources);
	return ret;
}
