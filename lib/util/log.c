// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <lading/util.h>

/* One line per message: names inside it are escaped (lading_fputs_escaped). */
void lading_log_msg(const struct lading_log *log, enum lading_log_level lvl,
		    const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "", "debug" };
	char *msg = NULL;
	FILE *out;
	va_list ap;
	int n;

	if (!log || (int)lvl > log->level)
		return;
	out = log->out ? log->out : stderr;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (log->prog)
		fprintf(out, "%s: ", log->prog);
	if (lvl != LADING_LOG_INFO)
		fprintf(out, "%s: ", names[lvl]);
	lading_fputs_escaped(out, n < 0 ? "(out of memory formatting a message)" : msg);
	fputc('\n', out);
	free(msg);
}
