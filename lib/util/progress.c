// SPDX-License-Identifier: MIT
#include <time.h>
#include <unistd.h>
#include <lading/util.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lading_progress_init(struct lading_progress *p, bool want,
			  const char *label, uint64_t total)
{
	p->enabled = want && isatty(STDERR_FILENO);
	p->label = label;
	p->total = total;
	p->done = 0;
	p->last_draw_ns = 0;
}

static void draw(struct lading_progress *p, const char *what)
{
	double mib = (double)p->done / (1024.0 * 1024.0);

	if (p->total) {
		unsigned int pct = (unsigned int)(p->done * 100 / p->total);
		unsigned int bar = pct * 30 / 100, i;

		if (pct > 100)
			pct = 100, bar = 30;
		fprintf(stderr, "\r\033[K%s [", p->label);
		for (i = 0; i < 30; i++)
			fputc(i < bar ? '#' : '.', stderr);
		fprintf(stderr, "] %3u%% %.1f MiB", pct, mib);
	} else {
		fprintf(stderr, "\r\033[K%s %.1f MiB", p->label, mib);
	}
	if (what) {
		char name[41];

		lading_escape_text(name, sizeof(name), what);	/* no raw names */
		fprintf(stderr, " %s", name);
	}
	fflush(stderr);
}

void lading_progress_update(struct lading_progress *p, uint64_t done,
			    const char *what)
{
	uint64_t t;

	if (!p || !p->enabled)
		return;
	p->done = done;
	t = now_ns();
	if (t - p->last_draw_ns < 100000000ull)
		return;
	p->last_draw_ns = t;
	draw(p, what);
}

void lading_progress_finish(struct lading_progress *p)
{
	if (!p || !p->enabled)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}
