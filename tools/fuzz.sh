#!/usr/bin/env bash
# fuzz.sh: build the libFuzzer harnesses (tests/fuzz/fuzz_*.c; clang with
# address and undefined sanitizers) in build-fuzz/ and run each for SECONDS,
# starting from its seed corpus tests/fuzz/corpus/<harness>/. New inputs go to
# build-fuzz/corpus/<harness>/ (the committed seeds stay small); a crash, leak,
# timeout or out-of-memory input is written to build-fuzz/artifacts/<harness>/
# and fails the script. Prints executions, coverage (cov) and features (ft).
# Usage: tools/fuzz.sh SECONDS [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: tools/fuzz.sh SECONDS [HARNESS...]}
shift
if [ $# -gt 0 ]; then
  harnesses=("$@")
else
  harnesses=()
  for f in tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
# Tests stay configured (only harnesses are built here): run_tests.sh builds the
# device-free tests in this same sanitized tree.
CC=${FUZZ_CC:-clang} cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKPREF_FUZZ=ON -DVKPREF_TESTS=ON \
  -DVKPREF_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${harnesses[@]}" >/dev/null
mkdir -p build-fuzz/logs
status=0
printf '%-20s %10s %8s %8s  %s\n' harness executions cov ft result
for h in "${harnesses[@]}"; do
  mkdir -p "build-fuzz/corpus/$h" "build-fuzz/artifacts/$h"
  log="build-fuzz/logs/$h.log"
  # -timeout: one input may take 10 s at most (a hang is a bug); the RSS limit
  # catches allocations that a declared size could drive.
  if "build-fuzz/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/artifacts/$h/" "build-fuzz/corpus/$h" "tests/fuzz/corpus/$h" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and build-fuzz/artifacts/$h/)"
    status=1
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-20s %10s %8s %8s  %s\n' "$h" "${runs:--}" "${cov:--}" "${ft:--}" "$result"
done
exit $status
