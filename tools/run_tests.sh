#!/usr/bin/env bash
# run_tests.sh: set up, build and run the whole test suite (ctest + Criterion) on
# the default Vulkan device with the Khronos validation layer on. GPU tests may
# not skip: setup installs lavapipe (mesa-vulkan-drivers), so a device exists.
# Extra arguments go to that ctest run.
#
# Then, in build-fuzz/ (clang, address and undefined sanitizers): every libFuzzer
# harness runs for FUZZ_SECONDS (default 20; tools/fuzz.sh) and the tests that
# need no Vulkan device (ctest label "cpu") run once more under the sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export VKPREF_REQUIRE_GPU=1 VKPREF_VALIDATION=1
ctest --test-dir build --output-on-failure --timeout 900 "$@"

tools/fuzz.sh "${FUZZ_SECONDS:-20}"
cmake --build build-fuzz -j"$(nproc)" --target cpu_tests >/dev/null
ctest --test-dir build-fuzz -L cpu --output-on-failure --timeout 900
