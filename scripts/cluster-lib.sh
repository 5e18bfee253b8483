# Helpers to run a local ADD cluster on loopback (sourced by scripts/demo.sh,
# bench/cluster.sh and tests). Every process started is recorded by pid in
# CL_PIDS (rank -> pid) and stopped by pid in cl_stop_all.
#   cl_init DIR N SECTORS   keys in DIR (chmod 600), N free ports
#   cl_start R [ARGS...]    starts rank R (logs in DIR/addd-R.log), ARGS added
#   cl_kill R [SIG]         signals rank R (default KILL) and waits for it
#   cl_wait_listening R     polls the port (max ~3 s)
#   cl_stop_all             SIGTERM every running rank, then SIGKILL stragglers

CL_BIN=${CL_BIN:-build}
declare -A CL_PIDS=()
CL_PORTS=()

cl_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cl_hex() { od -An -v -tx1 -N "$1" /dev/urandom | tr -d ' \n'; }

cl_init() {
  CL_DIR=$1; CL_N=$2; CL_SECTORS=$3
  mkdir -p "$CL_DIR"
  (umask 077; cl_hex 32 > "$CL_DIR/client.key"; echo >> "$CL_DIR/client.key"
   cl_hex 64 > "$CL_DIR/system.key"; echo >> "$CL_DIR/system.key")
  chmod 600 "$CL_DIR/client.key" "$CL_DIR/system.key"
  CL_PORTS=(); local peers=() p
  for ((r = 1; r <= CL_N; r++)); do
    p=$(cl_free_port); CL_PORTS[r]=$p; peers+=("127.0.0.1:$p")
  done
  CL_PEERS=$(IFS=,; echo "${peers[*]}")
}

cl_start() {
  local r=$1
  "$CL_BIN/addd" --rank "$r" --peers "$CL_PEERS" --storage-dir "$CL_DIR/store-$r" \
    --sectors "$CL_SECTORS" --client-key-file "$CL_DIR/client.key" \
    --system-key-file "$CL_DIR/system.key" ${CL_LOG_LEVEL:+--log-level $CL_LOG_LEVEL} \
    "${@:2}" >> "$CL_DIR/addd-$r.log" 2>&1 &
  CL_PIDS[$r]=$!
}

cl_wait_listening() {
  local r=$1 i
  for ((i = 0; i < 300; i++)); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', ${CL_PORTS[r]}), 0.2).close()" 2>/dev/null; then
      return 0
    fi
    kill -0 "${CL_PIDS[$r]}" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

cl_kill() {
  local r=$1 sig=${2:-KILL} pid=${CL_PIDS[$1]:-}
  [[ -n "$pid" ]] || return 0
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "CL_PIDS[$r]"
}

cl_stop_all() {
  local r pid
  for r in "${!CL_PIDS[@]}"; do kill -TERM "${CL_PIDS[$r]}" 2>/dev/null; done
  for r in "${!CL_PIDS[@]}"; do
    pid=${CL_PIDS[$r]}
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "CL_PIDS[$r]"
  done
}
