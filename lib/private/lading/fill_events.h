/* SPDX-License-Identifier: MIT */
/*
 * Parsers of the kernel's messages to the filler: cachefiles on-demand
 * messages and fanotify events (not installed; for the back ends, the
 * tests and the fuzz target).
 */
#ifndef LADING_FILL_EVENTS_H
#define LADING_FILL_EVENTS_H

#include <lading/common.h>


enum lading_cachefiles_opcode {
	LADING_CACHEFILES_OP_OPEN = 0,
	LADING_CACHEFILES_OP_CLOSE = 1,
	LADING_CACHEFILES_OP_READ = 2,
};

#define LADING_CACHEFILES_MSG_MAX 1024	/* CACHEFILES_MSG_MAX_SIZE */

/* One message read from /dev/cachefiles; pointers point into the buffer. */
struct lading_cachefiles_msg {
	uint32_t msg_id, opcode, object_id;
	/* OPEN */
	const char *volume_key;		/* NUL-terminated in the message */
	size_t volume_key_len;		/* without the NUL */
	const uint8_t *cookie_key;	/* not terminated */
	size_t cookie_key_len;
	int fd;				/* anon fd installed in this process */
	uint32_t flags;
	/* READ */
	uint64_t off, len;
};

/*
 * Parses one message of n bytes (one read()).  -EBADMSG with err for a
 * short, oversized, inconsistent or unknown message.  An OPEN's fd is
 * reported even when the rest is bad, so the caller can close it.
 */
int lading_cachefiles_msg_parse(const void *buf, size_t n,
				struct lading_cachefiles_msg *m,
				struct lading_error *err);

/* One fanotify pre-content event from a read() buffer. */
struct lading_fanotify_event {
	uint64_t mask;
	int fd;				/* -1 (FAN_NOFD) or the event's fd */
	int pid;
	bool has_range;
	uint64_t off, count;		/* the range info record */
};

/*
 * Parses the event at the start of buf[0, n): *used is its length (to step
 * to the next).  -EBADMSG with err when the metadata is malformed (then
 * nothing more in the buffer can be trusted); fd is set when known.  A
 * NULL err takes no message and allocates nothing (safe after fork()).
 */
int lading_fanotify_event_parse(const void *buf, size_t n,
				struct lading_fanotify_event *ev, size_t *used,
				struct lading_error *err);

#endif
