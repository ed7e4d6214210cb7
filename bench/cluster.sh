#!/usr/bin/env bash
# The cluster row: redis-benchmark --cluster straight to a 3-master Redis
# Cluster against plain redis-benchmark through redverb in front of it,
# SET and GET, 50 clients, pipeline 1 and 16, interleaved in one run; and
# the same through redverb in front of one standalone Redis, for redverb's
# CPU per request on each path (from /proc/PID/stat around each run).
# Prints one markdown table.
#
#   bench/cluster.sh                    # about 2 minutes on 2 cores
#   ROUNDS=5 N=400000 bench/cluster.sh
#
# Needs: redis-server, redis-benchmark and redis-cli (redis-tools), go.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
N=${N:-300000}
for tool in redis-server redis-benchmark redis-cli go python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
# A redis-benchmark left running after its server is gone spins on a core:
# stop ours (they name the work directory's ports) before the servers.
cleanup() {
  pkill -f "redis-benchmark -p (${ports:-none}) " 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "bench: nothing answers on $1" >&2; exit 1; }
server() { # port [options...]
  mkdir -p "$work/$1"
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/$1" --loglevel warning "${@:2}" >/dev/null & pids+=($!)
  wait_port "$1"
}

nodes=()
for _ in 1 2 3; do
  p=$(free_port); server "$p" --cluster-enabled yes --cluster-port "$(free_port)"; nodes+=("127.0.0.1:$p")
done
redis-cli --cluster create "${nodes[@]}" --cluster-yes >/dev/null
for _ in $(seq 100); do
  [ "$(redis-cli -p "${nodes[0]#*:}" CLUSTER INFO | tr -d '\r' | grep cluster_state)" = cluster_state:ok ] && break; sleep 0.1
done
SEED=${nodes[0]#*:}
ALONE=$(free_port); server "$ALONE"

go build -o "$work/redverb" ./cmd/redverb
RVC=$(free_port); RVS=$(free_port)
"$work/redverb" --listen "127.0.0.1:$RVC" --backend "redis-cluster://$(IFS=,; echo "${nodes[*]}")" --log-level warn >"$work/rvc.log" 2>&1 & pids+=($!); RVC_PID=$!
"$work/redverb" --listen "127.0.0.1:$RVS" --backend "redis://127.0.0.1:$ALONE" --log-level warn >"$work/rvs.log" 2>&1 & pids+=($!); RVS_PID=$!
wait_port "$RVC"; wait_port "$RVS"
ports="$SEED|$ALONE|$RVC|$RVS"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# run PORT P TEST [--cluster] -> ops/s
run() { redis-benchmark -p "$1" -c 50 -n "$N" -P "$2" -t "$3" -r 100000 --csv "${@:4}" 2>/dev/null | awk -F'","' '/^"(SET|GET)"/ {print int($2)}'; }
# cpu PID PORT P TEST -> "ops/s µs-per-request" for a run through a redverb
cpu() {
  local before after ops
  before=$(ticks "$1"); ops=$(run "$2" "$3" "$4"); after=$(ticks "$1")
  echo "$ops $(awk -v t=$((after - before)) -v hz="$HZ" -v n="$N" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
}

echo "| workload (50 clients) | cluster, redis-benchmark --cluster (ops/s) | cluster through redverb (ops/s) | ratio | redverb CPU per request, cluster (µs) | standalone direct (ops/s) | standalone through redverb (ops/s) | ratio | redverb CPU per request, standalone (µs) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for P in 1 16; do
  for T in set get; do
    dc="" rc="" cc="" ds="" rs="" cs=""
    for _ in $(seq "$ROUNDS"); do
      dc+="$(run "$SEED" "$P" "$T" --cluster) "
      read -r o c <<<"$(cpu "$RVC_PID" "$RVC" "$P" "$T")"; rc+="$o "; cc+="$c "
      ds+="$(run "$ALONE" "$P" "$T") "
      read -r o c <<<"$(cpu "$RVS_PID" "$RVS" "$P" "$T")"; rs+="$o "; cs+="$c "
    done
    m() { tr ' ' '\n' <<<"$1" | grep . | median; }
    DC=$(m "$dc") RC=$(m "$rc") DS=$(m "$ds") RS=$(m "$rs")
    printf '| %s P%s | %s | %s | %.2fx | %s | %s | %s | %.2fx | %s |\n' "${T^^}" "$P" "$DC" "$RC" \
      "$(awk -v a="$RC" -v b="$DC" 'BEGIN {print a/b}')" "$(m "$cc")" "$DS" "$RS" \
      "$(awk -v a="$RS" -v b="$DS" 'BEGIN {print a/b}')" "$(m "$cs")"
  done
done
