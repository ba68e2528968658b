/*
 * lading-testmount: file-backed EROFS mount for tests (DESIGN.md §4.1).
 *
 *   lading-testmount BOOTSTRAP MOUNTPOINT [BLOB...]
 *   lading-testmount -u MOUNTPOINT
 *
 * Mounts with mount(2): source = BOOTSTRAP, fstype "erofs", MS_RDONLY,
 * data "device=BLOB1,device=BLOB2,..." (in slot order). util-linux mount
 * would put the bootstrap on a loop device, after which device= must name
 * block devices; calling mount(2) directly keeps every file file-backed.
 *
 * Exit status: 0 ok; 77 when the test cannot run here (not root, or erofs
 * missing from /proc/filesystems) so that callers can SKIP; 1 for any other
 * failure (a real failure must fail the test); 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define EXIT_SKIP 77
#define EXIT_USAGE 2

static void usage(void)
{
	fprintf(stderr, "usage: lading-testmount BOOTSTRAP MOUNTPOINT [BLOB...]\n"
			"       lading-testmount -u MOUNTPOINT\n");
}

/* 1 if erofs is listed, 0 if not, negative errno if the list is unreadable. */
static int erofs_listed(void)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[256];
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '\t');

		name = name ? name + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		found = strcmp(name, "erofs") == 0;
	}
	fclose(f);
	return found;
}

/* Returns 0 if mounting can be attempted, else prints why and returns 77. */
static int check_can_mount(void)
{
	int r;

	if (geteuid() != 0) {
		fprintf(stderr, "lading-testmount: not root (euid %u): cannot mount\n",
			(unsigned)geteuid());
		return EXIT_SKIP;
	}
	r = erofs_listed();
	if (r < 0) {
		fprintf(stderr, "lading-testmount: /proc/filesystems: %s\n",
			strerror(-r));
		return EXIT_SKIP;
	}
	if (r == 0) {
		fprintf(stderr, "lading-testmount: erofs is not in /proc/filesystems "
				"(kernel without EROFS, or module not loaded)\n");
		return EXIT_SKIP;
	}
	return 0;
}

/* Build "device=A,device=B"; returns NULL on bad input or no memory. */
static char *build_data(char **blobs, int n)
{
	size_t len = 1;
	char *data, *p;

	for (int i = 0; i < n; i++) {
		if (strchr(blobs[i], ',')) {
			fprintf(stderr, "lading-testmount: blob path contains ',': %s\n",
				blobs[i]);
			return NULL;
		}
		len += strlen("device=") + strlen(blobs[i]) + 1;
	}
	data = malloc(len);
	if (!data)
		return NULL;
	p = data;
	*p = '\0';
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%sdevice=%s", i ? "," : "", blobs[i]);
	return data;
}

static int do_mount(const char *bootstrap, const char *mnt, char **blobs, int n)
{
	char *data = build_data(blobs, n);
	int ret;

	if (!data)
		return 1;
	if (mount(bootstrap, mnt, "erofs", MS_RDONLY, data) < 0) {
		int e = errno;

		fprintf(stderr, "lading-testmount: mount(%s, %s, erofs, MS_RDONLY, "
				"\"%s\"): %s\n", bootstrap, mnt, data, strerror(e));
		if (e == EINVAL || e == EIO || e == EUCLEAN)
			fprintf(stderr, "lading-testmount: the kernel log (dmesg) "
					"says why it rejected the image\n");
		ret = 1;
	} else {
		ret = 0;
	}
	free(data);
	return ret;
}

static int do_umount(const char *mnt)
{
	if (umount2(mnt, 0) < 0) {
		fprintf(stderr, "lading-testmount: umount2(%s): %s\n", mnt,
			strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool unmount = argc >= 2 && strcmp(argv[1], "-u") == 0;
	int ret;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage();
		return 0;
	}
	if (unmount ? argc != 3 : argc < 3) {
		usage();
		return EXIT_USAGE;
	}
	ret = check_can_mount();
	if (ret)
		return ret;
	if (unmount)
		return do_umount(argv[2]);
	return do_mount(argv[1], argv[2], argv + 3, argc - 3);
}
