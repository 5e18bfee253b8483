#!/bin/sh
# Generates the cluster's two HMAC keys as hex (32-byte client key, 64-byte
# system key) into DIR (default .), readable by the owner only. Copy both to
# /etc/add/ on every host; give the client key to the clients only.
set -eu
dir=${1:-.}
umask 077
mkdir -p "$dir"
od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n' > "$dir/client.key"; echo >> "$dir/client.key"
od -An -v -tx1 -N64 /dev/urandom | tr -d ' \n' > "$dir/system.key"; echo >> "$dir/system.key"
echo "wrote $dir/client.key and $dir/system.key (mode 0600)"
