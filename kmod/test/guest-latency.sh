#!/bin/busybox sh
# A quick latency probe (not part of make kmod-test): 4 KiB direct I/O at
# queue depth 1 against one in-memory atdd_testsrv, next to the same on tmpfs.
#   KMOD_SERVERS=testsrv KMOD_GUEST=kmod/test/guest-latency.sh make kmod-test
# (add KMOD_APPEND=idle=poll to see how much is TCG waking idle vCPUs)
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
ip link set lo up
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
echo $KEY > /tmp/k
atdd_testsrv --mode serve --port 7010 --sectors 16384 --client-key-file /tmp/k &
sleep 1
insmod /lib/modules/atdd.ko servers=127.0.0.1:7010 client_key=$KEY sectors=16384
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }
for i in 1 2; do
t0=$(now_cs); dd if=/dev/zero of=/dev/atdd bs=4096 count=500 oflag=direct 2>/dev/null; t1=$(now_cs)
echo "KTEST: FIGURE qd1_write_500_ops_cs: $((t1 - t0))"
t0=$(now_cs); dd if=/dev/atdd of=/dev/null bs=4096 count=500 iflag=direct 2>/dev/null; t1=$(now_cs)
echo "KTEST: FIGURE qd1_read_500_ops_cs: $((t1 - t0))"
t0=$(now_cs); dd if=/dev/zero of=/tmp/x bs=4096 count=500 oflag=direct 2>/dev/null; t1=$(now_cs)
echo "KTEST: FIGURE tmpfs_500_ops_cs: $((t1 - t0))"
done
echo "KTEST: DONE"
poweroff -f
