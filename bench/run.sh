#!/usr/bin/env bash
# Measures redverb against redis-server directly and against twemproxy
# (nutcracker), side by side on this machine, and prints one markdown table
# with every figure (CPU per request of each server too); the chart goes
# to bench/results.png.
#
#   bench/run.sh                       # about 13 minutes on 2 cores
#   ROUNDS=5 N=400000 bench/run.sh     # steadier medians
#
# Needs: redis-server, redis-benchmark (redis-tools), nutcracker, go.
# Throughput: redis-benchmark, SET and GET, pipeline 1 and 16, 50 and 500
# clients, and one client pipelining GET 16 and 128 deep; each round runs every target once, interleaved, so a noisy
# neighbour hurts all alike, and the median of the rounds is reported.
# Latency: bench/load sends GET at a fixed rate, half of what direct Redis
# peaks at (P1, 50 clients), and reports p50/p99/p99.9 from each request's
# due time. Memory: bench/idle holds 10,000 idle clients on each proxy.
# Cache: bench/zipf, a Zipf load (exponent 0.99 over 100,000 keys of 1 KiB,
# 50 clients, 95% GET, pipeline 1 and 16) against Redis directly, redverb,
# and redverb --cache, with the commands that reach Redis, the cache's
# memory and how long a direct write takes to reach a client of the cache.
#
#   CACHE_ONLY=1 bench/run.sh          # the cache rows alone, about 4 minutes
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
N=${N:-200000}
LAT_DURATION=${LAT_DURATION:-5s}
IDLE=${IDLE:-10000}
PNG=${PNG:-bench/results.png}
CACHE_ONLY=${CACHE_ONLY:-}
ZIPF_DURATION=${ZIPF_DURATION:-5s}
CACHE_MEM=${CACHE_MEM:-256mb}

for tool in redis-server redis-benchmark redis-cli nutcracker go python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install -y redis-server redis-tools nutcracker)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "bench: nothing answers on $1" >&2; exit 1; }

REDIS=$(free_port); NUT=$(free_port); RV=$(free_port); NUTSTATS=$(free_port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --loglevel warning \
  --maxclients 20000 >/dev/null & pids+=($!)
wait_port "$REDIS"

cat >"$work/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$NUT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  server_connections: 1
  servers:
   - 127.0.0.1:$REDIS:1
YML
nutcracker -c "$work/nutcracker.yml" -s "$NUTSTATS" -o "$work/nutcracker.log" >/dev/null 2>&1 & pids+=($!)
wait_port "$NUT"

for cmd in redverb load idle cas zipf report; do
  pkg=./bench/$cmd; [ "$cmd" = redverb ] && pkg=./cmd/redverb
  go build -o "$work/$cmd" "$pkg"
done
"$work/redverb" --listen "127.0.0.1:$RV" --backend "redis://127.0.0.1:$REDIS" --maxclients 20000 --log-level warn >"$work/redverb.log" 2>&1 & pids+=($!)
wait_port "$RV"
REDIS_PID=${pids[0]}; NUT_PID=${pids[1]}; RV_PID=${pids[2]}
declare -A PORT=([redis]=$REDIS [twemproxy]=$NUT [redverb]=$RV)
results="$work/results.txt"
say() { echo "$1 $2" >>"$results"; echo "  $1 $2" >&2; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ -z "$CACHE_ONLY" ]; then
echo "throughput (redis-benchmark, $N requests, $ROUNDS rounds)" >&2
ops() { redis-benchmark -p "$1" -c "$2" -n "$N" -P "$3" -t "$4" -r 100000 --csv 2>/dev/null | awk -F'","' 'NR==2 {print int($2)}'; }
# CPU per request: each server's own user+system time (/proc/PID/stat)
# over the rounds, in ns per request. For a proxy, that is what the hop
# costs beyond Redis's own work.
declare -A PID_OF=([redis]=$REDIS_PID [twemproxy]=$NUT_PID [redverb]=$RV_PID)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
NS_PER_TICK=$(( 1000000000 / $(getconf CLK_TCK) ))
# measure NAME PID command...: runs the command with its output in
# $work/out, and adds the CPU ticks PID spent meanwhile to TICKS[NAME].
declare -A TICKS=()
measure() {
  local name=$1 pid=$2 t0; shift 2
  t0=$(cpu_ticks "$pid"); "$@" >"$work/out"
  TICKS[$name]=$(( ${TICKS[$name]:-0} + $(cpu_ticks "$pid") - t0 ))
}
say_cpu() { say "cpu.$1" $(( ${TICKS[$1]:-0} * NS_PER_TICK / (ROUNDS * N) )); }
# Rows: clients pipeline commands. One client pipelining 16 and 128 deep
# shows what the hop costs a client's own pipeline.
rows="50:1:set 50:1:get 50:16:set 50:16:get 500:1:set 500:1:get 500:16:set 500:16:get 1:16:get 1:128:get"
for row in $rows; do
  IFS=: read -r C P T <<<"$row"
  declare -A runs=()
  for _ in $(seq "$ROUNDS"); do
    for target in redis twemproxy redverb; do
      measure "$T.$P.$C.$target" "${PID_OF[$target]}" ops "${PORT[$target]}" "$C" "$P" "$T"
      runs[$target]+="$(cat "$work/out") "
    done
  done
  for target in redis twemproxy redverb; do
    say "tput.$T.$P.$C.$target" "$(tr ' ' '\n' <<<"${runs[$target]}" | grep . | median)"
    say_cpu "$T.$P.$C.$target"
  done
  unset runs
done

echo "verbs" >&2
# EVALSHA direct needs the script in Redis's cache (redverb itself runs the
# verb as a function).
SHA=$(cat lua/prelude.lua lua/cas.lua | redis-cli -p "$REDIS" -x SCRIPT LOAD)
[ "$SHA" = "$(redis-cli -p "$RV" REDVERB VERBS | awk '$0=="cas"{getline; print; exit}')" ] ||
  { echo "bench: the CAS script's SHA1 differs from redverb's" >&2; exit 1; }
# cas_ops PORT CLIENTS PIPELINE command...
cas_ops() { redis-benchmark -p "$1" -c "$2" -n "$N" -P "$3" -r 10 --csv "${@:4}" 2>/dev/null | awk -F'","' 'NR==2 {print int($2)}'; }
# CAS at pipeline 1 with 50 clients, and pipelined (16 deep with 1 and 50
# clients, 128 deep with 1), against EVALSHA of its script straight to
# Redis in the same shape.
for row in 50:1 1:16 50:16 1:128; do
  IFS=: read -r C P <<<"$row"
  d=""; v=""
  for _ in $(seq "$ROUNDS"); do
    measure "cas.$P.$C.direct" "$REDIS_PID" cas_ops "$REDIS" "$C" "$P" EVALSHA "$SHA" 1 key:__rand_int__ x y
    d+="$(cat "$work/out") "
    measure "cas.$P.$C.redverb" "$RV_PID" cas_ops "$RV" "$C" "$P" CAS key:__rand_int__ x y
    v+="$(cat "$work/out") "
  done
  say "cas.$P.$C.direct" "$(tr ' ' '\n' <<<"$d" | grep . | median)"
  say "cas.$P.$C.redverb" "$(tr ' ' '\n' <<<"$v" | grep . | median)"
  say_cpu "cas.$P.$C.direct"; say_cpu "cas.$P.$C.redverb"
done
# Contended CAS on 10 keys: the verb against client-side WATCH/GET/MULTI/
# SET/EXEC on redis-server. One scheduler thread, like redis-benchmark.
GOMAXPROCS=1 "$work/cas" -direct "127.0.0.1:$REDIS" -proxy "127.0.0.1:$RV" -clients 50 -keys 10 -duration 5s >"$work/cas.txt"
say contended.watch "$(awk '/^optimistic/ {print $(NF-1)}' "$work/cas.txt")"
say contended.redverb "$(awk '/^CAS verb/ {print $(NF-1)}' "$work/cas.txt")"

echo "latency (bench/load, $LAT_DURATION per run)" >&2
redis-cli -p "$REDIS" SET bench:key value >/dev/null
RATE=$(( $(awk '$1=="tput.get.1.50.redis" {print $2}' "$results") / 2 ))
say lat.rate "$RATE"
declare -A lat=()
for _ in $(seq "$ROUNDS"); do
  for target in redis twemproxy redverb; do
    lat[$target]+="$(GOMAXPROCS=1 "$work/load" -addr "127.0.0.1:${PORT[$target]}" -rate "$RATE" -duration "$LAT_DURATION"),"
  done
done
for target in redis twemproxy redverb; do
  for i in 1 2 3; do
    name=$(cut -d' ' -f"$i" <<<"p50 p99 p999")
    say "lat.$target.$name" "$(tr ',' '\n' <<<"${lat[$target]}" | grep . | awk -v f="$i" '{print $f}' | median)"
  done
done

echo "memory ($IDLE idle clients, fresh processes)" >&2
# Fresh proxies, so that neither reuses memory the throughput runs grew.
NUT2=$(free_port); RV2=$(free_port)
sed -e "s/127.0.0.1:$NUT/127.0.0.1:$NUT2/" "$work/nutcracker.yml" >"$work/nutcracker2.yml"
nutcracker -c "$work/nutcracker2.yml" -s "$(free_port)" -o "$work/nutcracker2.log" >/dev/null 2>&1 & pids+=($!); NUT2_PID=$!
"$work/redverb" --listen "127.0.0.1:$RV2" --backend "redis://127.0.0.1:$REDIS" --maxclients 20000 --log-level warn >"$work/redverb2.log" 2>&1 & pids+=($!); RV2_PID=$!
wait_port "$NUT2"; wait_port "$RV2"
for target in twemproxy redverb; do
  port=$NUT2; pid=$NUT2_PID; [ "$target" = redverb ] && { port=$RV2; pid=$RV2_PID; }
  read -r before idle after per <<<"$("$work/idle" -addr "127.0.0.1:$port" -pid "$pid" -n "$IDLE" -settle 4s)"
  say "mem.$target" "$per"; say "mem.$target.before" "$before"; say "mem.$target.peak" "$idle"; say "mem.$target.after" "$after"
done
fi

echo "cache (bench/zipf, $ZIPF_DURATION per run, $ROUNDS rounds)" >&2
RVC=$(free_port)
"$work/redverb" --listen "127.0.0.1:$RVC" --backend "redis://127.0.0.1:$REDIS" --cache --cache-max-memory "$CACHE_MEM" \
  --log-level warn >"$work/redverb-cache.log" 2>&1 & pids+=($!)
wait_port "$RVC"
declare -A ZPORT=([redis]=$REDIS [redverb]=$RV [cache]=$RVC)
"$work/zipf" -addr "127.0.0.1:$REDIS" -prefill -duration 0 >/dev/null
# The cache starts empty: a first run fills it, as a service's would.
"$work/zipf" -addr "127.0.0.1:$RVC" -redis "127.0.0.1:$REDIS" -pipeline 16 -duration 10s >/dev/null
for P in 1 16; do
  declare -A zr=()
  for _ in $(seq "$ROUNDS"); do
    for target in redis redverb cache; do
      zr[$target]+="$("$work/zipf" -addr "127.0.0.1:${ZPORT[$target]}" -redis "127.0.0.1:$REDIS" -pipeline "$P" -duration "$ZIPF_DURATION"),"
    done
  done
  for target in redis redverb cache; do
    for i in 1 2 3 4; do
      name=$(cut -d' ' -f"$i" <<<"ops p50 p99 backend")
      say "zipf.$P.$target.$name" "$(tr ',' '\n' <<<"${zr[$target]}" | grep . | awk -v f="$i" '{print $f}' | median)"
    done
  done
  unset zr
done
info() { redis-cli -p "$RVC" INFO cache | tr -d '\r' | awk -F: -v k="$1" '$1==k {print $2}'; }
say cache.bytes "$(info cache_used_memory)"; say cache.max "$(info cache_max_memory)"
say cache.entries "$(info cache_entries)"; say cache.hitratio "$(info cache_hit_ratio)"
read -r p50 p99 <<<"$("$work/zipf" -addr "127.0.0.1:$RVC" -redis "127.0.0.1:$REDIS" -lag 2000)"
say cache.lag.p50 "$p50"; say cache.lag.p99 "$p99"

"$work/report" -in "$results" -png "$PNG" \
  -title "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \`ROUNDS=$ROUNDS N=$N bench/run.sh\`"
echo >&2; echo "chart: $PNG" >&2
