#!/usr/bin/env bash
# run_tests.sh: set up, build and run the whole test suite (ctest + Criterion) on
# the default Vulkan device with the Khronos validation layer on. GPU tests may
# not skip: setup installs lavapipe (mesa-vulkan-drivers), so a device exists.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export VKPREF_REQUIRE_GPU=1 VKPREF_VALIDATION=1
ctest --test-dir build --output-on-failure --timeout 900 "$@"
