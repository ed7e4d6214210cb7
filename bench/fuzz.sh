#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 3s, what CI runs; give
# minutes for a real search: FUZZTIME=5m bench/fuzz.sh). A failing input is
# saved under the package's testdata/fuzz/ and then runs as a regression
# test in every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-3s}
targets=(
  "./internal/resp FuzzReadReply"
  "./proxy FuzzInputFraming"
  "./proxy FuzzPipelineMatchesRedis"
  "./commands FuzzVerbArguments"
  "./commands FuzzParseVerb"
  "./commands FuzzDigestSteps"
)
passed=0
for t in "${targets[@]}"; do
  set -- $t
  echo "fuzz: $2 ($1) for $FUZZTIME"
  log=$(mktemp)
  go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" -parallel 2 >"$log" 2>&1 || { cat "$log"; echo "fuzz: $passed passed, 1 failed"; exit 1; }
  tail -n 2 "$log" | head -n 1; rm -f "$log"
  passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
