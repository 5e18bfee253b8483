#!/bin/busybox sh
# /init of the QEMU guest of `make kmod-test` (busybox sh; the guest powers
# off at the end). Prints one line per test:
#   KTEST: PASS name | KTEST: FAIL name: why | KTEST: FIGURE name: value
# and "KTEST: DONE" last; kmod/test/run.sh reads them from the console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /mnt /etc
ln -sf /proc/mounts /etc/mtab
ip link set lo up

KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
SYSKEY=$KEY$KEY
SECTORS=16384                       # 64 MiB
PORTS="7001 7002 7003"
SERVERS=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
echo $KEY > /tmp/client.key
echo $SYSKEY > /tmp/system.key
MOD=/lib/modules/atdd.ko
# Under TCG, three addd write some 50 to 100 sectors/s: a burst of writeback
# (thousands of sectors at once) needs more than the default 30 s.
TIMEOUT_S=120

pass() { echo "KTEST: PASS $1"; }
fail() { echo "KTEST: FAIL $1: $2"; }
figure() { echo "KTEST: FIGURE $1: $2"; }
check() { # check NAME WHY COMMAND...: PASS if the command succeeds
	n=$1; why=$2; shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }
mbps() { # mbps BYTES CENTISECONDS
	awk -v b="$1" -v cs="$2" 'BEGIN { if (cs < 1) cs = 1; printf "%.2f MB/s", b / 1e6 / (cs / 100) }'
}
pattern() { # pattern SECTOR FILE: 4096 bytes that name the sector
	yes "atdd sector $1 pattern " | head -c 4096 > "$2"
}

# ---- ADD processes -------------------------------------------------------
if [ -x /bin/addd ]; then SERVER_KIND=addd; else SERVER_KIND=atdd_testsrv; fi
start_server() { # start_server RANK
	r=$1; port=$((7000 + r))
	if [ $SERVER_KIND = addd ]; then
		mkdir -p /tmp/add$r
		addd --rank $r --peers $SERVERS --storage-dir /tmp/add$r --sectors $SECTORS \
			--client-key-file /tmp/client.key --system-key-file /tmp/system.key \
			--nbd-listen 127.0.0.1:$((7010 + r)) --log-level warn > /tmp/add$r.log 2>&1 &
	else
		atdd_testsrv --mode serve --port $port --sectors $SECTORS \
			--client-key-file /tmp/client.key --store /tmp/store > /tmp/add$r.log 2>&1 &
	fi
	eval PID$r=$!
}
wait_port() { # wait_port PORT: until something listens there (at most 5 s)
	hex=$(printf '%04X' $1)
	for i in $(seq 50); do
		grep -q ":$hex 00000000:0000 0A" /proc/net/tcp && return 0
		usleep 100000
	done
	return 1
}
echo "KTEST: servers are $SERVER_KIND"
for r in 1 2 3; do start_server $r; done
for p in $PORTS; do wait_port $p || echo "KTEST: warning: nothing listens on $p"; done

insmod_atdd() { insmod $MOD servers=$SERVERS client_key=$KEY sectors=$SECTORS "$@"; }
device_absent() { [ ! -e /sys/block/atdd ]; }

# ---- malformed parameters: refused, nothing left behind ------------------
refused() { # refused NAME PARAMS...
	n=$1; shift
	if insmod $MOD "$@" 2>/dev/null; then
		fail "$n" "insmod accepted $*"; rmmod atdd
	elif ! device_absent; then fail "$n" "a device exists after a refused load"
	else pass "$n"; fi
}
refused refuses_short_key servers=$SERVERS client_key=0123 sectors=$SECTORS
refused refuses_non_hex_key servers=$SERVERS client_key=$(echo $KEY | tr 0 x) sectors=$SECTORS
refused refuses_bad_address servers=127.0.0.1:7001,300.0.0.1:7002 client_key=$KEY sectors=$SECTORS
refused refuses_missing_port servers=127.0.0.1 client_key=$KEY sectors=$SECTORS
refused refuses_missing_servers client_key=$KEY sectors=$SECTORS
refused refuses_zero_sectors servers=$SERVERS client_key=$KEY sectors=0
refused refuses_too_many_sectors servers=$SERVERS client_key=$KEY sectors=2097153
refused refuses_zero_connections servers=$SERVERS client_key=$KEY sectors=$SECTORS connections=0
refused refuses_huge_queue_depth servers=$SERVERS client_key=$KEY sectors=$SECTORS queue_depth=100000
check refusal_is_explained "no pr_err for a bad key" sh -c 'dmesg | grep -q "atdd: client_key= must be 64 hex digits"'

# ---- the device ----------------------------------------------------------
if insmod_atdd connections=4 queue_depth=64 timeout_s=$TIMEOUT_S; then pass insmod; else fail insmod "insmod failed"; fi
check device_geometry "size or block size wrong" sh -c \
	"[ -b /dev/atdd ] && [ \$(cat /sys/block/atdd/size) = $((SECTORS * 8)) ] &&
	 [ \$(cat /sys/block/atdd/queue/logical_block_size) = 4096 ] &&
	 [ \$(cat /sys/block/atdd/queue/physical_block_size) = 4096 ]"
# Completed writes are durable on a majority: no volatile cache to flush.
check no_volatile_write_cache "write_cache is not 'write through'" sh -c \
	'[ "$(cat /sys/block/atdd/queue/write_cache)" = "write through" ]'

head -c 4096 /dev/zero > /tmp/zero4k
check unwritten_sector_reads_zero "sector 3 not zero" sh -c \
	'dd if=/dev/atdd bs=4096 skip=3 count=1 iflag=direct 2>/dev/null | cmp -s - /tmp/zero4k'

# Requests of many sectors: 1 MiB in 256 KiB writes, read in 128 KiB and buffered.
dd if=/dev/urandom of=/tmp/rand1m bs=1048576 count=1 2>/dev/null
multi() {
	dd if=/tmp/rand1m of=/dev/atdd bs=262144 seek=4 oflag=direct 2>/dev/null || return 1
	dd if=/dev/atdd bs=131072 skip=8 count=8 iflag=direct 2>/dev/null | cmp -s - /tmp/rand1m ||
		return 1
	blockdev --flushbufs /dev/atdd
	dd if=/dev/atdd bs=1048576 skip=1 count=1 2>/dev/null | cmp -s - /tmp/rand1m
}
check multi_sector_requests_roundtrip "1 MiB region differs" multi

# A pattern over 64 sectors spread across the whole device, and the last one.
SAMPLE=""
step=$((SECTORS / 64))
for i in $(seq 0 63); do SAMPLE="$SAMPLE $((i * step + (i * 7) % step))"; done
SAMPLE="$SAMPLE $((SECTORS - 1))"
write_sample() {
	for s in $SAMPLE; do
		pattern $s /tmp/p || return 1
		dd if=/tmp/p of=/dev/atdd bs=4096 seek=$s count=1 oflag=direct 2>/dev/null || return 1
	done
}
verify_sample() {
	for s in $SAMPLE; do
		pattern $s /tmp/p
		dd if=/dev/atdd bs=4096 skip=$s count=1 iflag=direct 2>/dev/null | cmp -s - /tmp/p ||
			{ echo "sector $s differs"; return 1; }
	done
}
check pattern_sample_written "a write failed" write_sample
check pattern_sample_reads_back_exact "read back differs" verify_sample

reload() { rmmod atdd && insmod_atdd connections=4 queue_depth=64 timeout_s=$TIMEOUT_S; }
check module_reloads "rmmod or insmod failed" reload
check pattern_sample_survives_module_reload "read back differs after reload" verify_sample

# ---- a file system -------------------------------------------------------
for m in crc16 mbcache jbd2 crc32c_generic ext4; do
	[ -e /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
fs_test() {
	mke2fs -F -b 4096 /dev/atdd > /tmp/mkfs.log 2>&1 || { cat /tmp/mkfs.log; return 1; }
	mount -t ext2 /dev/atdd /mnt || return 1
	mkdir -p /mnt/d
	for i in 1 2 3 4 5 6 7 8; do
		dd if=/dev/urandom of=/mnt/d/f$i bs=4096 count=$((i * i * 3 + 1)) 2>/dev/null ||
			return 1
	done
	cp /tmp/rand1m /mnt/big
	(cd /mnt && sha256sum big d/*) > /tmp/sums
	sync
	umount /mnt || return 1
	echo 3 > /proc/sys/vm/drop_caches
	mount -t ext2 /dev/atdd /mnt || return 1
	(cd /mnt && sha256sum -c /tmp/sums > /dev/null) || { umount /mnt; return 1; }
	umount /mnt
}
check ext2_files_survive_remount "mkfs, mount or checksum failed" fs_test

# ---- kill -9 one process during I/O --------------------------------------
dd if=/dev/urandom of=/tmp/rand4m bs=1048576 count=4 2>/dev/null
kill_test() {
	dd if=/tmp/rand4m of=/dev/atdd bs=65536 seek=128 oflag=direct 2>/tmp/dd.err &
	ddpid=$!
	usleep 300000
	kill -9 $PID1
	wait $ddpid || { cat /tmp/dd.err; return 1; }
	dd if=/dev/atdd bs=65536 skip=128 count=64 iflag=direct 2>/dev/null | cmp -s - /tmp/rand4m
}
t0=$(now_cs)
check io_completes_after_kill9 "I/O failed or data differs after kill -9 of process 1" kill_test
figure kill9_write_4MiB_seconds "$(awk -v a=$t0 -v b=$(now_cs) 'BEGIN { print (b - a) / 100 }')"
check failover_logged "no reconnect in the kernel log" sh -c 'dmesg | grep -q "atdd: conn .*lost"'
start_server 1
wait_port 7001

# A process that stops answering (SIGSTOP): its connections are declared dead
# after a third of the timeout (here 7 s) and their requests go to the others.
stop_test() {
	rmmod atdd && insmod_atdd timeout_s=21 || return 1
	kill -STOP $PID2
	dd if=/tmp/rand4m of=/dev/atdd bs=65536 seek=256 count=16 oflag=direct 2>/tmp/dd.err ||
		{ kill -CONT $PID2; cat /tmp/dd.err; return 1; }
	dd if=/dev/atdd bs=65536 skip=256 count=16 iflag=direct 2>/dev/null |
		cmp -s - /tmp/rand1m
	rc=$?
	kill -CONT $PID2
	dmesg | grep -q "no valid response from 127.0.0.1:7002" ||
		{ echo "the stall was not detected"; rc=1; }
	return $rc
}
head -c 1048576 /tmp/rand4m > /tmp/rand1m
t0=$(now_cs)
check io_completes_with_a_stopped_process "I/O failed or data differs with process 2 stopped" \
	stop_test
figure stopped_process_write_read_1MiB_seconds \
	"$(awk -v a=$t0 -v b=$(now_cs) 'BEGIN { print (b - a) / 100 }')"
rmmod atdd && insmod_atdd timeout_s=$TIMEOUT_S || fail reload_after_stop_test "reload failed"

# Readers in parallel, with requests of 1 to 64 sectors, over what the kill -9
# test wrote: replies of many requests interleave on the connections.
parallel_test() {
	for bs in 4096 16384 65536 262144; do
		dd if=/dev/atdd bs=$bs skip=$((8388608 / bs)) count=$((1048576 / bs)) iflag=direct \
			2>/dev/null > /tmp/par$bs &
		eval P$bs=\$!
	done
	rc=0
	for bs in 4096 16384 65536 262144; do
		eval wait \$P$bs || rc=1
		cmp -s /tmp/par$bs /tmp/rand1m || { echo "bs=$bs differs"; rc=1; }
	done
	return $rc
}
check parallel_readers_read_exact "a parallel read failed or differs" parallel_test

# ---- throughput (a figure, not a test) ------------------------------------
seq_io() { # seq_io NAME BLOCKS DD-ARGS...: BLOCKS of 4 KiB
	n=$1; blocks=$2; shift 2
	blockdev --flushbufs /dev/atdd
	t0=$(now_cs)
	if dd bs=4096 count=$blocks "$@" 2>/dev/null; then
		figure "$n" "$(mbps $((blocks * 4096)) $(($(now_cs) - t0)))"
	else
		fail "$n" "dd failed"
	fi
}
throughput() { # throughput LABEL
	seq_io "$1_seq_write_4k_direct_qd1" 512 if=/dev/zero of=/dev/atdd seek=4096 oflag=direct
	seq_io "$1_seq_read_4k_direct_qd1" 512 if=/dev/atdd of=/dev/null skip=4096 iflag=direct
	seq_io "$1_seq_write_4k_buffered_fsync" 1024 if=/dev/zero of=/dev/atdd seek=4096 conv=fsync
	seq_io "$1_seq_read_4k_buffered" 1024 if=/dev/atdd of=/dev/null skip=4096
}
throughput $SERVER_KIND
echo "---- kernel log of the cluster phase (connections) ----"
dmesg | grep -E 'atdd: conn [0-9]+: (connected|connection|no valid)' | tail -n 30
check rmmod_clean "rmmod failed" sh -c 'rmmod atdd && [ ! -e /sys/block/atdd ]'
# ---- NBD: the kernel's own nbd.ko and nbd-client against addd --nbd-listen ----
# (the three addd of this guest, each serving NBD on 7011..7013 over loopback)
nbd_up() { # nbd_up PORT
	nbd-client -b 4096 -N add 127.0.0.1 $1 /dev/nbd0 > /tmp/nbdc.log 2>&1 ||
		{ cat /tmp/nbdc.log; return 1; }
	for i in $(seq 50); do
		[ "$(cat /sys/block/nbd0/size 2>/dev/null)" = $((SECTORS * 8)) ] && return 0
		usleep 100000
	done
	echo "nbd0 has size $(cat /sys/block/nbd0/size 2>/dev/null)"
	return 1
}
nbd_down() { nbd-client -d /dev/nbd0 > /dev/null 2>&1; }
nbd_ext4_test() {
	# no discard: TRIM writes zeros, a whole-device discard would rewrite it all
	mkfs.ext4 -F -q -b 4096 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 /dev/nbd0 \
		> /tmp/mkfs4.log 2>&1 || { cat /tmp/mkfs4.log; return 1; }
	mount -t ext4 /dev/nbd0 /mnt || return 1
	mkdir -p /mnt/d
	for i in 1 2 3 4 5 6; do
		dd if=/dev/urandom of=/mnt/d/f$i bs=4096 count=$((i * i * 2 + 1)) 2>/dev/null ||
			return 1
	done
	cp /tmp/rand1m /mnt/big
	(cd /mnt && sha256sum big d/*) > /tmp/sums4
	sync
	umount /mnt || return 1
	e2fsck -f -n /dev/nbd0 > /tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; return 1; }
	echo 3 > /proc/sys/vm/drop_caches
	mount -t ext4 /dev/nbd0 /mnt || return 1
	(cd /mnt && sha256sum -c /tmp/sums4 > /dev/null) || { umount /mnt; return 1; }
	umount /mnt
}
nbd_other_process() { # the files, read through another process's NBD
	nbd_down && nbd_up 7013 || return 1
	mount -t ext4 -o ro /dev/nbd0 /mnt || return 1
	(cd /mnt && sha256sum -c /tmp/sums4 > /dev/null) || { umount /mnt; return 1; }
	umount /mnt
}
if [ $SERVER_KIND = addd ] && [ -e /lib/modules/nbd.ko ] && [ -x /bin/nbd-client ] &&
	[ -x /bin/mkfs.ext4 ]; then
	insmod /lib/modules/nbd.ko 2>/dev/null
	if nbd_up 7011; then
		pass nbd_client_connects_size_matches
		check nbd_ext4_mkfs_files_fsck_clean_remount "mkfs.ext4, fsck or checksums failed" \
			nbd_ext4_test
		check nbd_ext4_files_through_another_process "checksums differ via rank 3" \
			nbd_other_process
		nbd_down
	else
		fail nbd_client_connects_size_matches "nbd-client failed"
	fi
else
	echo "KTEST: warning: NBD guest test skipped (needs addd, nbd.ko, nbd-client, mkfs.ext4)"
fi

for r in 1 2 3; do eval kill \$PID$r; done

# ---- the driver alone: one in-memory atdd_testsrv --------------------------
atdd_testsrv --mode serve --port 7010 --sectors $SECTORS --client-key-file /tmp/client.key &
MEMSRV=$!
wait_port 7010
MEM=127.0.0.1:7010
if [ $SERVER_KIND = addd ]; then
	insmod $MOD servers=$MEM client_key=$KEY sectors=$SECTORS && throughput testsrv
	rmmod atdd
fi

# One connection, and writers racing on the same sectors: the driver never
# has two commands for one sector in flight on one connection (PROTOCOL.md),
# so the later request waits for the earlier one instead.
overlap_test() {
	insmod $MOD servers=$MEM client_key=$KEY sectors=$SECTORS connections=1 || return 1
	for w in 1 2 3 4; do
		pattern "writer$w" /tmp/w$w
		for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do cat /tmp/w$w; done > /tmp/w$w.64k
		(for i in 1 2 3 4 5 6 7 8 9 10; do
			dd if=/tmp/w$w.64k of=/dev/atdd bs=65536 seek=10 oflag=direct 2>/dev/null ||
				exit 1
		done) &
		eval W$w=\$!
	done
	rc=0
	for w in 1 2 3 4; do eval wait \$W$w || rc=1; done
	dd if=/dev/atdd bs=4096 skip=160 count=1 iflag=direct 2>/dev/null > /tmp/got
	match=0
	for w in 1 2 3 4; do cmp -s /tmp/got /tmp/w$w && match=1; done
	rmmod atdd
	[ $rc = 0 ] && [ $match = 1 ]
}
check overlapping_writers_on_one_connection "a write failed or the sector is torn" overlap_test

# A wrong key: the server's replies (signed with the right key) fail the
# driver's HMAC check and are dropped, so the read fails at the timeout.
wrong_key_test() {
	insmod $MOD servers=$MEM client_key=$(echo $KEY | tr 0 f) sectors=$SECTORS timeout_s=3 ||
		return 1
	t0=$(now_cs)
	dd if=/dev/atdd of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null && rc=1 || rc=0
	el=$(($(now_cs) - t0))
	rmmod atdd
	echo "wrong key: read failed after $el cs"
	[ $rc = 0 ] && [ $el -lt 1500 ] && dmesg | grep -q "bad HMAC (wrong client_key?)"
}
check wrong_key_fails_with_eio "read did not fail with EIO within 15 s" wrong_key_test
kill $MEMSRV

unreachable_test() {
	insmod $MOD servers=127.0.0.1:7999,127.0.0.1:7998 client_key=$KEY sectors=$SECTORS ||
		return 1
	sleep 2
	t0=$(now_cs)
	rmmod atdd || return 1
	el=$(($(now_cs) - t0))
	echo "rmmod while reconnecting took $el cs"
	[ $el -lt 500 ]
}
check rmmod_while_reconnecting_is_prompt "rmmod failed or slow" unreachable_test

# ---- a process that never answers: EIO within the timeout ----------------
atdd_testsrv --mode silent --port 7100 --sectors $SECTORS --client-key-file /tmp/client.key &
SILENT=$!
wait_port 7100
insmod $MOD servers=127.0.0.1:7100 client_key=$KEY sectors=$SECTORS timeout_s=3 connections=2
timeout_test() {
	t0=$(now_cs)
	if dd if=/dev/atdd of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
		echo "read succeeded"; return 1
	fi
	el=$(($(now_cs) - t0))
	echo "failed after $el cs"
	[ $el -lt 1500 ]
}
check silent_server_read_fails_eio_in_time "no EIO within 15 s" timeout_test
busy_test() {
	dd if=/dev/atdd of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null &
	ddpid=$!
	usleep 200000
	if rmmod atdd 2>/dev/null; then echo "rmmod while open succeeded"; return 1; fi
	wait $ddpid
	rmmod atdd
}
check rmmod_refused_while_open_then_clean "rmmod misbehaved" busy_test
kill $SILENT

# ---- a server that speaks garbage ------------------------------------------
atdd_testsrv --mode garbage --port 7200 --sectors $SECTORS --client-key-file /tmp/client.key \
	--seed 7 &
GARBAGE=$!
wait_port 7200
insmod $MOD servers=127.0.0.1:7200 client_key=$KEY sectors=$SECTORS timeout_s=4 connections=2
garbage_test() {
	ok=0; bad=0
	for s in 1 2 3 4 5 6 7 8 9 10 11 12; do
		if dd if=/dev/atdd of=/dev/null bs=4096 skip=$s count=1 iflag=direct 2>/dev/null
		then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		if dd if=/tmp/zero4k of=/dev/atdd bs=4096 seek=$s count=1 oflag=direct 2>/dev/null
		then ok=$((ok + 1)); else bad=$((bad + 1)); fi
	done
	dd if=/dev/atdd of=/dev/null bs=65536 count=4 iflag=direct 2>/dev/null || bad=$((bad + 1))
	echo "garbage server: $ok I/Os succeeded, $bad failed"
	rmmod atdd
}
check garbage_server_io_returns_and_rmmod "I/O hung or rmmod failed" garbage_test
check resync_stray_bytes_logged "no stray-byte message" sh -c 'dmesg | grep -q "stray bytes"'
check resync_bad_hmac_logged "no bad-HMAC message" sh -c 'dmesg | grep -q "bad HMAC"'
check resync_invalid_type_logged "no invalid-type message" sh -c 'dmesg | grep -q "invalid message type"'
kill $GARBAGE

check kernel_has_no_oops_bug_or_warning "see the console log" sh -c \
	'! dmesg | grep -E "BUG|Oops|general protection|WARNING|Call Trace"'

echo "---- kernel log (atdd lines, last 80) ----"
dmesg | grep -E 'atdd|BUG|Oops|WARNING|Call Trace' | tail -n 80
echo "KTEST: DONE"
sync
poweroff -f
