#!/bin/bash
# lading-fill, cachefiles on-demand back end, on a real kernel: the test
# kernel (linux-source-6.1 with CACHEFILES_ONDEMAND and EROFS_FS_ONDEMAND)
# boots under qemu with an ext4 disk holding the images, the blobs and two
# caches.  In the guest, `lading-fill serve` binds /dev/cachefiles and the
# guest mounts with fsid=/domain_id=; the host then compares what the guest
# read with the sources.  Covered: cold read, two mounts sharing a domain
# (the blob is opened once), a corrupted chunk (EIO), a blob no source has
# and an fsid nobody serves (copen errors: no data reaches a reader), and a cache
# pre-seeded by lading-prepare --layout cachefiles (no READ reaches the
# filler), and a filler killed with a READ in flight whose successor takes
# the binding over from its keeper and restores it (Linux 6.8+, and
# Debian's 6.1.192); serve --prefetch fills a blob once a mount opens it;
# serve --image oci:DIR:REF,fsid= resolves an image reference (an OCI
# layout lading-convert wrote on the host) and serves it from the layout.
# Exit 0 pass, 1 fail, 77 skip.  Env: LADING_MKIMAGE LADING_PREPARE
# LADING_FILL LADING_CONVERT (default: build/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
build=${LADING_BUILD:-$here/../../build}
MKIMAGE=${LADING_MKIMAGE:-$build/mkimage/lading-mkimage}
PREPARE=${LADING_PREPARE:-$build/prepare/lading-prepare}
FILL=${LADING_FILL:-$build/fill/lading-fill}
CONVERT=${LADING_CONVERT:-$build/convert/lading-convert}
fail() { echo "FAIL: fill_cachefiles: $*" >&2; exit 1; }
log() { echo "fill_cachefiles: $*" >&2; }

if reason=$(vm_skip_reason --root); then
	echo "SKIP: fill_cachefiles: $reason"
	exit 77
fi
for b in "$MKIMAGE" "$PREPARE" "$FILL" "$CONVERT"; do
	[ -x "$b" ] || fail "$b not built"
done
work=$(mktemp -d /var/tmp/lading-vm-test.XXXXXX)
# LADING_VM_KEEP=1 keeps the disk image and console log for a look
trap 'umount "$work/disk.mnt" 2>/dev/null || true
      if [ -n "${LADING_VM_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT
kernel=$(vm_kernel) || fail "cannot build the test kernel"

# ---- host: images and blobs ------------------------------------------------
d=$work/disk
mkdir -p "$d/src/sub" "$d/blobs" "$d/bad" "$d/none" "$d/out"
head -c 1500000 /dev/urandom >"$d/src/rand"
seq 1 200000 >"$d/src/text"
head -c 300000 /dev/urandom >"$d/src/sub/other"
echo small >"$d/src/sub/small"
ln -s ../text "$d/src/sub/link"
"$MKIMAGE" -q -C 64K --compress zstd -b "$d/blobs" "$d/a.boot" "$d/src" ||
	fail "mkimage"
blob=$(ls "$d/blobs")
# the same image whose blob is damaged in its source
cp "$d/a.boot" "$d/bad.boot"
cp "$d/blobs/$blob" "$d/bad/$blob"
python3 "$here/../tools/flip_bytes.py" "$d/bad/$blob" 20 2
# an image whose blob no source has
mkdir -p "$d/src2"
head -c 100000 /dev/urandom >"$d/src2/only"
"$MKIMAGE" -q -C 64K -b "$d/none" "$d/miss.boot" "$d/src2" || fail "mkimage"
rm -rf "$d/none" "$d/src2"
(cd "$d/src" && find . -type f | sort | xargs sha256sum) >"$work/src.sums"
# the same tree as an ordinary OCI image, converted into an OCI layout
# that the guest serves by reference (oci:DIR:REF)
tar -C "$d/src" -cf "$work/src.tar" .
python3 "$here/../integration/make_oci.py" "$work/img" v1 "$work/src.tar" >/dev/null ||
	fail "make_oci"
"$CONVERT" -q --compress zstd -C 64K "oci:$work/img:v1" "oci:$d/lay:lading" ||
	fail "lading-convert to oci:"

cat >"$work/guest.sh" <<'GUEST'
set -u
D=/mnt/disk
O=$D/out
# reads every file of MNT, hashing them in a stable order
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
serve() {
	lading-fill serve --daemon --pid-file /tmp/fill.pid --json "$@" \
		2>>$O/serve.err
}
stop() {
	pid=$(cat /tmp/fill.pid)
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
mkdir -p /a /b /bad /miss /nobody /seeded /r /m /p /o

# 1. cold cache: a, b (one domain), the damaged blob and the missing one
# imgb comes from a config file
printf '# images\n%s fsid=imgb domain_id=dom\n' $D/a.boot >/tmp/fill.conf
serve --cache $D/cache --source $D/blobs \
	--image $D/a.boot,fsid=imga,domain_id=dom \
	--config /tmp/fill.conf || { echo "serve failed"; exit 1; }
mount -t erofs -o fsid=imga,domain_id=dom none /a || { echo "mount a failed"; exit 1; }
sums /a >$O/a.sums
mount -t erofs -o fsid=imgb,domain_id=dom none /b || { echo "mount b failed"; exit 1; }
sums /b >$O/b.sums
if mount -t erofs -o fsid=nobody none /nobody 2>$O/nobody.err; then
	echo mounted >$O/nobody.mounted
fi
kill -USR1 "$(cat /tmp/fill.pid)"; sleep 0.3
umount /a; umount /b
stop
cp $O/serve.err $O/serve1.err

serve --cache $D/cache2 --source $D/bad --source $D/blobs \
	--image $D/bad.boot,fsid=bad --image $D/miss.boot,fsid=miss
mount -t erofs -o fsid=bad none /bad || { echo "mount bad failed"; exit 1; }
# one of the files holds the damaged chunk: it alone must fail
for f in rand text sub/other; do
	if sha256sum /bad/$f >>$O/bad.sums 2>>$O/bad.err; then :; else
		echo "$f" >>$O/bad.failed
	fi
done
# 6.1 still mounts when a device's OPEN is refused; its data must not read
if mount -t erofs -o fsid=miss none /miss 2>$O/miss.err; then
	echo mounted >$O/miss.mounted
	cat /miss/only >/dev/null 2>>$O/miss.err && echo read >$O/miss.read
	umount /miss
fi
umount /bad
stop
cp $O/serve.err $O/serve2.err

# 2. a cache lading-prepare seeded (in the guest: mkfs.ext4 -d would turn
#    zero blocks into holes): nothing to fetch
lading-prepare -q --layout cachefiles --fsid seeded --seed-from $D/blobs \
	$D/a.boot $D/seeded 2>>$O/serve.err || { echo "prepare failed"; exit 1; }
serve --cache $D/seeded --source $D/none-such-dir --source $D/blobs \
	--image $D/a.boot,fsid=seeded
mount -t erofs -o fsid=seeded none /seeded || { echo "mount seeded failed"; exit 1; }
sums /seeded >$O/seeded.sums
umount /seeded
stop
cp $O/serve.err $O/serve3.err

# 3. a filler killed with a READ in flight: its keeper hands the binding to
#    the next filler, which restores it; the waiting reader gets its data.
#    The source is busybox httpd on loopback, stopped to hold the fetch.
ifconfig lo 127.0.0.1 up
httpd -p 127.0.0.1:8080 -h $D/blobs
sleep 0.2
httpd_pid=$(pidof httpd)
: >$O/serve.err
serve --cache $D/cache3 --source http://127.0.0.1:8080/ --timeout 0 \
	--image $D/a.boot,fsid=r
mount -t erofs -o fsid=r none /r 2>>$O/restore.err || { echo "mount r failed"; exit 1; }
kill -STOP $httpd_pid
(sha256sum /r/rand >$O/restore.sum 2>>$O/restore.err; echo $? >$O/restore.rc) &
reader=$!
sleep 2
[ -e $O/restore.rc ] && echo "read finished with the source stopped" >>$O/restore.err
kill -KILL "$(cat /tmp/fill.pid)"
sleep 0.5
serve --cache $D/cache3 --source http://127.0.0.1:8080/ --timeout 0 \
	--image $D/a.boot,fsid=r
kill -CONT $httpd_pid
wait $reader
sha256sum /r/text >>$O/restore.sum 2>>$O/restore.err
umount /r
stop
cp $O/serve.err $O/serve4.err
kill $httpd_pid

# 4. `mount` with the back end picked automatically: no pre-content events
#    in 6.1, so cachefiles; it mounts and unmounts by itself
lading-fill mount --daemon --pid-file /tmp/fill.pid $D/a.boot /m \
	--source $D/blobs --cache $D/cache4 2>$O/mount.err || { echo "mount failed"; exit 1; }
sums /m >$O/m.sums
stop
grep -q " /m " /proc/mounts && echo "still mounted" >>$O/mount.err

# 5. serve --prefetch: the blob fills once a mount opens it, nobody reading
: >$O/serve.err
serve --cache $D/cache5 --source $D/blobs --prefetch --image $D/a.boot,fsid=p
mount -t erofs -o fsid=p none /p || { echo "mount p failed"; exit 1; }
i=0
while [ $i -lt 150 ] && ! grep -q '"blobs_completed": 1' $O/serve.err; do
	kill -USR1 "$(cat /tmp/fill.pid)"
	sleep 0.2
	i=$((i + 1))
done
sums /p >$O/p.sums
umount /p
stop
cp $O/serve.err $O/serve5.err

# 6. an image reference: the bootstrap resolved from the OCI layout (and
#    kept in the cache), the blobs read from the layout's blobs/sha256
: >$O/serve.err
serve --cache $D/cache6 --image oci:$D/lay:lading,fsid=o ||
	{ echo "serve oci: failed"; cat $O/serve.err; exit 1; }
mount -t erofs -o fsid=o none /o || { echo "mount o failed"; exit 1; }
sums /o >$O/o.sums
(cd /o && find . | sort) >$O/o.list
readlink /o/sub/link >$O/o.link
umount /o
stop
cp $O/serve.err $O/serve6.err
ls $D/cache6 >$O/cache6.list
exit 0
GUEST

vm_make_disk "$work/disk.img" 160 "$d" || fail "mkfs.ext4"
t0=$(date +%s)
rc=0
vm_run --kernel "$kernel" --disk "$work/disk.img" --script "$work/guest.sh" \
	--bin "$FILL" --bin "$PREPARE" --timeout 600 --mem 512 --log "$work/console.log" 2>/dev/null || rc=$?
if [ $rc != 0 ]; then
	tail -30 "$work/console.log" >&2
	mkdir -p "$work/disk.mnt"
	mount -o loop,ro "$work/disk.img" "$work/disk.mnt" &&
		tail -n 20 "$work"/disk.mnt/out/*.err >&2
	fail "guest exit $rc"
fi
log "guest ran in $(( $(date +%s) - t0 )) s"
mkdir -p "$work/disk.mnt"
mount -o loop,ro "$work/disk.img" "$work/disk.mnt" || fail "cannot mount the disk image"
o=$work/disk.mnt/out
show() { echo "--- $1"; cat "$o/$1" 2>/dev/null; }
# the JSON lines lading-fill printed: on SIGUSR1 and at exit
stat_of() {
	python3 - "$o/$1" "$2" "$3" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
print(json.loads(lines[int(sys.argv[2])])[sys.argv[3]])
PY
}

# cold read through both mounts equals the source
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/a.sums") >&2 ||
	{ show serve1.err >&2; fail "mount a differs from the source"; }
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/b.sums") >&2 ||
	fail "mount b differs from the source"
total=$(stat -c %s "$d/blobs/$blob")
fetched=$(stat_of serve1.err -1 bytes_fetched)
opened=$(stat_of serve1.err -1 objects_opened)
refused=$(stat_of serve1.err -1 objects_refused)
# two bootstraps and ONE blob object: the domain shares it
[ "$opened" = 3 ] || { show serve1.err >&2; fail "objects opened: $opened, expected 3"; }
[ "$refused" = 1 ] || fail "an fsid nobody serves: $refused refusals, expected 1"
[ ! -e "$o/nobody.mounted" ] || fail "an unknown fsid mounted"
[ "$(stat_of serve1.err 0 requests)" -gt 0 ] || fail "SIGUSR1 printed no statistics"
log "ok: cold read of both mounts equals the source; blob opened once for the domain; $fetched bytes fetched; unknown fsid refused"

# corrupted chunk: EIO for that file only, an intact file reads fine
[ "$(wc -l <"$o/bad.failed" 2>/dev/null || echo 0)" = 1 ] ||
	fail "files failing with the damaged chunk: $(cat "$o/bad.failed" 2>/dev/null)"
grep -qi "i/o error\|input/output" "$o/bad.err" || fail "no EIO: $(cat "$o/bad.err")"
while read -r sum path; do
	[ "$sum" = "$(sha256sum <"$d/src/${path#/bad/}" | cut -d' ' -f1)" ] ||
		fail "intact file $path of the damaged image differs"
done <"$o/bad.sums"
[ "$(stat_of serve2.err -1 verify_failures)" -ge 1 ] || fail "no verification failure counted"
grep -q "does not match its digest" "$o/serve2.err" || fail "the bad chunk was not named"
log "ok: corrupted chunk -> EIO for $(cat "$o/bad.failed") only, named in the log"
# missing blob: its OPEN is refused; the mount fails, or (6.1) mounts
# without the device and its files fail to read
[ ! -e "$o/miss.read" ] || fail "a file whose blob no source has was read"
[ -s "$o/miss.err" ] || fail "missing blob: neither the mount nor the read failed"
grep -q "not found in the sources" "$o/serve2.err" || fail "missing blob not reported"
[ "$(stat_of serve2.err -1 objects_refused)" -ge 1 ] || fail "missing blob: no copen error"
log "ok: missing blob -> copen error; $( [ -e "$o/miss.mounted" ] && echo "mounted, read failed:" || echo "mount failed:") $(head -c 100 "$o/miss.err")"

# pre-seeded cache: the same bytes, nothing fetched
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/seeded.sums") >&2 ||
	{ show serve3.err >&2; fail "the pre-seeded mount differs"; }
[ "$(stat_of serve3.err -1 chunks_fetched)" = 0 ] ||
	fail "pre-seeded cache: $(stat_of serve3.err -1 chunks_fetched) chunks fetched"
[ "$(stat_of serve3.err -1 requests)" = 0 ] ||
	fail "pre-seeded cache: $(stat_of serve3.err -1 requests) READ requests"
log "ok: pre-seeded cache -> no READ, nothing fetched ($total-byte blob)"
# restart with a READ in flight: restored, the reader got the right bytes
! grep -q "finished with the source stopped" "$o/restore.err" ||
	fail "the read did not wait for the stopped source: nothing was in flight"
[ "$(cat "$o/restore.rc" 2>/dev/null)" = 0 ] ||
	{ show restore.err >&2; show serve4.err >&2; fail "the read across the restart failed"; }
for f in rand text; do
	grep -q "$(sha256sum <"$d/src/$f" | cut -d' ' -f1)" "$o/restore.sum" ||
		{ show restore.sum >&2; fail "$f read across the restart differs"; }
done
grep -q "took over the binding of a previous filler" "$o/serve4.err" ||
	{ show serve4.err >&2; fail "the new filler did not take the binding over"; }
log "ok: filler killed with a READ in flight; the next one restored the binding and served it"
# lading-fill mount, back end picked by auto
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/m.sums") >&2 ||
	{ show mount.err >&2; fail "lading-fill mount (auto -> cachefiles) differs"; }
grep -q "back end cachefiles: no fanotify pre-content events" "$o/mount.err" ||
	{ show mount.err >&2; fail "auto did not say why it picked cachefiles"; }
! grep -q "still mounted" "$o/mount.err" || fail "lading-fill mount left its mount behind"
log "ok: lading-fill mount --backend auto -> $(grep -o "back end cachefiles: [^;]*" "$o/mount.err")"
# serve --prefetch filled the blob before anything was read
grep -m1 '"blobs_completed": 1' "$o/serve5.err" | grep -q '"requests": 0,' ||
	{ show serve5.err >&2; fail "serve --prefetch did not complete the blob before any read"; }
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/p.sums") >&2 ||
	fail "the prefetched mount differs"
log "ok: serve --prefetch completed the blob once the mount opened it, before any read"
# serve --image oci:DIR:REF: the tree, as the converted image holds it
diff <(sed 's| \./| |' "$work/src.sums") <(sed 's| \./| |' "$o/o.sums") >&2 ||
	{ show serve6.err >&2; fail "serve --image oci:DIR:REF differs from the source"; }
diff <(cd "$d/src" && find . | sort) "$o/o.list" >&2 ||
	fail "serve --image oci:DIR:REF: the names differ from the source"
[ "$(cat "$o/o.link")" = ../text ] || fail "serve --image oci:DIR:REF: symlink $(cat "$o/o.link")"
boot=$(python3 -c "
import json, sys
m = json.load(open(sys.argv[1] + '/index.json'))['manifests'][0]['digest'][7:]
m = json.load(open(sys.argv[1] + '/blobs/sha256/' + m))
print([l['digest'][7:] for l in m['layers'] if 'bootstrap' in l['mediaType']][0])" "$d/lay")
grep -qx "$boot" "$o/cache6.list" ||
	{ show cache6.list >&2; fail "the resolved bootstrap $boot is not kept in the cache"; }
log "ok: serve --image oci:DIR:REF,fsid=o mounts and reads the tree; its bootstrap is in the cache"
# a sanitizer build reports into the logs it wrote in the guest
! grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$o"/*.err >&2 ||
	fail "sanitizer report in the guest (above)"
echo "PASS: fill_cachefiles"
