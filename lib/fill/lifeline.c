// SPDX-License-Identifier: MIT
/*
 * A child that outlives the filler (see backends.h): the fanotify
 * guardian and the cachefiles keeper.  It is forked from a process that
 * already runs threads, so the child makes plain system calls only: no
 * malloc, no stdio, no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "backends.h"

#define LIFELINE_QUIT 'q'
#define LIFELINE_RELEASE 'r'

static __attribute__((noreturn)) void child(const int *keep, unsigned n, int life,
					    fill_orphan_fn *on_orphan, const void *arg)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, dfl = { .sa_handler = SIG_DFL };
	struct pollfd pfd = { .fd = FILL_LIFELINE_FD0 + (int)n, .events = POLLIN };
	int high[8];
	sigset_t none;
	unsigned i;
	char c = 0;

	/* keep[i] at FD0 + i, the lifeline after them, nothing else */
	for (i = 0; i <= n; i++) {
		high[i] = fcntl(i < n ? keep[i] : life, F_DUPFD, 100);
		if (high[i] < 0)
			_exit(1);
	}
	for (i = 0; i <= n; i++)
		if (dup2(high[i], FILL_LIFELINE_FD0 + (int)i) < 0)
			_exit(1);
	close_range(FILL_LIFELINE_FD0 + n + 1, ~0u, 0);
	/* the filler's handlers came along: SIGTERM ends the child, and ^C
	 * (sent to the whole process group) is the filler's to handle */
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGUSR1, &ign, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	while (poll(&pfd, 1, -1) < 0)
		;
	if (read(pfd.fd, &c, 1) == 1 && c == LIFELINE_QUIT)
		_exit(0);	/* a clean stop */
	close(pfd.fd);
	on_orphan(arg, c == LIFELINE_RELEASE ? FILL_ORPHAN_RELEASED : FILL_ORPHAN_DIED);
	_exit(0);
}

int fill_lifeline_start(const int *keep, unsigned n, fill_orphan_fn *on_orphan,
			const void *arg, struct fill_lifeline *lf,
			struct lading_error *err)
{
	int p[2];
	pid_t pid;

	if (n > 7)
		return lading_error_set(err, EINVAL, "lifeline: too many fds");
	if (pipe2(p, O_CLOEXEC) < 0)
		return lading_error_set(err, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return lading_error_set(err, errno, "fork: %s", strerror(errno));
	}
	if (pid == 0)
		child(keep, n, p[0], on_orphan, arg);
	close(p[0]);
	lf->pid = pid;
	lf->pipe = p[1];
	return 0;
}

void fill_lifeline_stop(struct fill_lifeline *lf)
{
	char q = LIFELINE_QUIT;

	if (!lf->pid)
		return;
	if (write(lf->pipe, &q, 1) != 1)
		kill(lf->pid, SIGTERM);
	close(lf->pipe);
	waitpid(lf->pid, NULL, 0);
	lf->pid = 0;
}

void fill_lifeline_release(struct fill_lifeline *lf)
{
	char r = LIFELINE_RELEASE;

	if (!lf->pid)
		return;
	if (write(lf->pipe, &r, 1) != 1) {
		/* the closed pipe alone says orphan: the child takes over too */
	}
	close(lf->pipe);
	lf->pid = 0;		/* not waited for: it outlives us */
}

/* A one-byte message with room for one fd (SCM_RIGHTS) in ctl. */
static void fd_message(struct msghdr *msg, struct iovec *iov, char *byte,
		       void *ctl, size_t ctllen)
{
	memset(msg, 0, sizeof(*msg));
	iov->iov_base = byte;
	iov->iov_len = 1;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = ctl;
	msg->msg_controllen = ctllen;
}

/*
 * The hand-over sockets are abstract, so any local user can connect to one
 * or bind its name first: an fd goes only to, and comes only from, a peer
 * of our own user (a stranger holding the fanotify group could allow reads
 * of holes; one handing us a fake group could too).
 */
static bool peer_is_us(int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       len == sizeof(cred) && cred.uid == geteuid();
}

int fill_send_fd(int sock, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *c;
	char one = 1;

	if (!peer_is_us(sock))
		return -1;
	memset(&u, 0, sizeof(u));
	fd_message(&msg, &iov, &one, u.buf, sizeof(u.buf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int fill_recv_fd(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *c;
	char one;
	int fd = -1;

	if (!peer_is_us(sock))
		return -1;
	fd_message(&msg, &iov, &one, u.buf, sizeof(u.buf));
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) == 1 && (c = CMSG_FIRSTHDR(&msg)) &&
	    c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}
