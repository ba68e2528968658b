// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lading/util.h>

/* Start of the UTF-8 character holding byte i (never inside a sequence). */
static size_t char_start(const char *s, size_t i)
{
	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/*
 * A message longer than the buffer loses its middle, not its end: the
 * reason comes last ("path: what went wrong"), and a long path must not
 * hide it.
 */
static void store_message(char *dst, size_t size, const char *msg, size_t len)
{
	static const char gap[] = "...";
	size_t head, tail;

	if (len < size) {
		memcpy(dst, msg, len + 1);
		return;
	}
	head = char_start(msg, (size - sizeof(gap)) / 3);
	tail = size - sizeof(gap) - head;
	tail = len - char_start(msg, len - tail + 3);	/* whole characters */
	memcpy(dst, msg, head);
	memcpy(dst + head, gap, sizeof(gap) - 1);
	memcpy(dst + head + sizeof(gap) - 1, msg + len - tail, tail);
	dst[head + sizeof(gap) - 1 + tail] = '\0';
}

int lading_error_set(struct lading_error *err, int errnum, const char *fmt,
		     ...)
{
	char *msg = NULL;
	va_list ap;
	int n;

	if (errnum <= 0)
		errnum = EIO;
	if (!err)
		return -errnum;
	if (!err->code) {
		err->code = -errnum;
		va_start(ap, fmt);
		n = vasprintf(&msg, fmt, ap);
		va_end(ap);
		if (n < 0) {
			va_start(ap, fmt);
			vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
			va_end(ap);
			return -errnum;
		}
		store_message(err->msg, sizeof(err->msg), msg, (size_t)n);
		free(msg);
	}
	return -errnum;
}

void lading_error_clear(struct lading_error *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

const char *lading_error_message(const struct lading_error *err, int ret)
{
	if (err && err->msg[0])
		return err->msg;
	return strerror(ret < 0 ? -ret : ret ? ret : EIO);
}
