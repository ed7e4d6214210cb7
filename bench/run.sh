#!/usr/bin/env bash
# Compares redverb with direct redis-server and with twemproxy (nutcracker)
# on loopback, in one run, and prints ops/s and ratios.
#
#   bench/run.sh              # SET/GET, 50 clients, pipeline 1 and 16
#   ROUNDS=5 N=500000 bench/run.sh
#
# Needs: redis-server, redis-benchmark (redis-tools), nutcracker, go.
# Each round runs every target once, interleaved, so a noisy neighbour hurts
# all of them alike; the median of the rounds is reported.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
N=${N:-300000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}

for tool in redis-server redis-benchmark nutcracker go; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install -y redis-server redis-tools nutcracker)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "bench: nothing answers on $1" >&2; exit 1; }

REDIS=$(free_port); NUT=$(free_port); RV=$(free_port); NUTSTATS=$(free_port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning >/dev/null & pids+=($!)
wait_port "$REDIS"

cat >"$work/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$NUT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: 1
  servers:
   - 127.0.0.1:$REDIS:1
EOF
nutcracker -c "$work/nutcracker.yml" -s "$NUTSTATS" -o "$work/nutcracker.log" >/dev/null 2>&1 & pids+=($!)
wait_port "$NUT"

# redverb runs twice: with GOMAXPROCS set to all cores (what Go would pick
# by default), and with its own default, which is
# one core on machines with two or fewer (see setProcs in cmd/redverb).
RV1=$(free_port)
go build -o "$work/redverb" ./cmd/redverb
GOMAXPROCS=$(nproc) "$work/redverb" --listen "127.0.0.1:$RV" --backend "redis://127.0.0.1:$REDIS" --log-level warn >"$work/redverb.log" 2>&1 & pids+=($!)
"$work/redverb" --listen "127.0.0.1:$RV1" --backend "redis://127.0.0.1:$REDIS" --log-level warn >"$work/redverb1.log" 2>&1 & pids+=($!)
wait_port "$RV"; wait_port "$RV1"

# cputicks PID -> CPU time the process has used, in clock ticks
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run PORT PID TEST PIPELINE -> "ops/s CPU-ns-per-request" (CPU of PID: the
# proxy, or redis-server for the direct runs)
run() {
  local before after ops
  before=$(cputicks "$2")
  ops=$(redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -P "$4" -t "$3" -r 100000 --csv 2>/dev/null |
    awk -F'","' 'NR==2 {print int($2)}')
  after=$(cputicks "$2")
  echo "$ops $(( (after - before) * 1000000000 / $(getconf CLK_TCK) / N ))"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# col LIST N -> median of field N of the comma-separated entries of LIST
col() { tr ',' '\n' <<<"$1" | grep . | awk -v f="$2" '{print $f}' | median; }

REDIS_PID=${pids[0]}; NUT_PID=${pids[1]}; RV_PID=${pids[2]}; RV1_PID=${pids[3]}
printf '%-4s %-3s %9s %9s %9s %9s | %-16s | %-16s | %-22s\n' test P redis twemproxy "rv(allP)" redverb \
  "rv(allP) /redis" "redverb /redis" "redverb /twem  CPU/req"
for P in $PIPELINES; do
  for T in set get; do
    declare -A res=()
    for r in $(seq "$ROUNDS"); do
      res[redis]+="$(run "$REDIS" "$REDIS_PID" "$T" "$P"),"
      res[nut]+="$(run "$NUT" "$NUT_PID" "$T" "$P"),"
      res[rv]+="$(run "$RV" "$RV_PID" "$T" "$P"),"
      res[rv1]+="$(run "$RV1" "$RV1_PID" "$T" "$P"),"
    done
    d=$(col "${res[redis]}" 1); n=$(col "${res[nut]}" 1); v=$(col "${res[rv]}" 1); v1=$(col "${res[rv1]}" 1)
    ncpu=$(col "${res[nut]}" 2); v1cpu=$(col "${res[rv1]}" 2)
    printf '%-4s %-3s %9s %9s %9s %9s | %15.2fx | %15.2fx | %6.2fx %5sns %5sns\n' "$T" "$P" "$d" "$n" "$v" "$v1" \
      "$(echo "$v / $d" | bc -l)" "$(echo "$v1 / $d" | bc -l)" "$(echo "$v1 / $n" | bc -l)" "$v1cpu" "$ncpu"
    unset res
  done
done
echo "($CLIENTS clients, $N requests per run, median of $ROUNDS interleaved rounds, $(nproc) cores)"

# CAS: the verb through redverb against the very same script called with
# EVALSHA on redis-server directly (10 keys, pipeline 1).
redis-cli -p "$RV" CAS bench:warm x y >/dev/null # loads the script into the backend
SHA=$(redis-cli -p "$RV" REDVERB VERBS | awk '$0=="cas"{getline; print; exit}')
cas_rps() { redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r 10 --csv "${@:2}" 2>/dev/null | awk -F'","' 'NR==2 {print int($2)}'; }
declare -A cas=()
for r in $(seq "$ROUNDS"); do
  cas[direct]+="$(cas_rps "$REDIS" EVALSHA "$SHA" 1 key:__rand_int__ x y),"
  cas[rv]+="$(cas_rps "$RV" CAS key:__rand_int__ x y),"
  cas[rv1]+="$(cas_rps "$RV1" CAS key:__rand_int__ x y),"
done
d=$(col "${cas[direct]}" 1); v=$(col "${cas[rv]}" 1); v1=$(col "${cas[rv1]}" 1)
echo
printf 'CAS verb (pipeline 1): EVALSHA direct %s/s, redverb with all cores %s/s (%.2fx), redverb %s/s (%.2fx)\n' \
  "$d" "$v" "$(echo "$v / $d" | bc -l)" "$v1" "$(echo "$v1 / $d" | bc -l)"

# CAS under contention on 10 keys: the verb through redverb (its default
# settings) against client-side WATCH/GET/MULTI/SET/EXEC on redis-server.
# The Go load generator runs on one scheduler thread, like redis-benchmark,
# so that it leaves the proxy and Redis the same room in both runs.
echo
go build -o "$work/cas" ./bench/cas
GOMAXPROCS=1 "$work/cas" -direct "127.0.0.1:$REDIS" -proxy "127.0.0.1:$RV1" -clients "$CLIENTS" -keys 10 -duration 5s
