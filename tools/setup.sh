#!/usr/bin/env bash
# setup.sh: install the Debian packages vkpref needs (when run as root; otherwise
# print the command to run; clang and its runtime libraries are for the fuzzing
# and sanitizer stage of tools/run_tests.sh; Node.js and npm for the Pick-a-Pic
# converter), the converter's npm packages, then configure and build into ./build.
# Usage: tools/setup.sh [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gcc make cmake pkg-config glslc spirv-tools libvulkan-dev mesa-vulkan-drivers
          vulkan-validationlayers libpng-dev libjpeg62-turbo-dev libstb-dev libcjson-dev libcriterion-dev
          zlib1g-dev dataset-fashion-mnist chromium clang libclang-rt-14-dev libopenmpi-dev openmpi-bin)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the Pick-a-Pic converter (tools/pickapic/). Debian's packages only
# where no node / npm is on the PATH: a Node.js installed otherwise (with its own
# npm) is kept, as Debian's npm would not install beside it.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# The converter's npm packages, as locked (from npm's cache when it holds them).
# A failure does not stop the C build: the converter's test (tool_pickapic) tries
# again and fails with npm's reason.
if [ ! -f tools/pickapic/node_modules/.package-lock.json ] ||
   [ tools/pickapic/package-lock.json -nt tools/pickapic/node_modules/.package-lock.json ]; then
  (cd tools/pickapic && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) ||
    echo "setup: npm ci in tools/pickapic failed; the Pick-a-Pic converter cannot run until it succeeds" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
