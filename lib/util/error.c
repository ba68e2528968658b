// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <lading/common.h>

int lading_error_set(struct lading_error *err, int errnum, const char *fmt,
		     ...)
{
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	if (!err)
		return -errnum;
	if (!err->code) {
		err->code = -errnum;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

void lading_error_clear(struct lading_error *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}
