#!/usr/bin/env bash
# run_default.sh: set up, build and run the main job on the embedded default.
# For now: list the Vulkan devices and benchmark the core ops on the chosen one.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build/vkpref info
build/vkpref bench ops
