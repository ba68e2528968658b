// SPDX-License-Identifier: MIT
#include <lading/common.h>

void lading_log_msg(const struct lading_log *log, enum lading_log_level lvl,
		    const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "", "debug" };
	FILE *out;
	va_list ap;

	if (!log || (int)lvl > log->level)
		return;
	out = log->out ? log->out : stderr;
	if (log->prog)
		fprintf(out, "%s: ", log->prog);
	if (lvl != LADING_LOG_INFO)
		fprintf(out, "%s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}
