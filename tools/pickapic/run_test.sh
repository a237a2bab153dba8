#!/usr/bin/env bash
# run_test.sh: the Pick-a-Pic converter's tests (test.js) as one ctest test.
# Installs the locked npm packages first when node_modules is missing or older
# than package-lock.json (npm ci: from npm's cache when it holds them, else from
# the registry). Exit 77 (skipped) only when Node.js itself is missing.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null; then
  echo "skipped: Node.js is not installed (tools/setup.sh installs Debian's nodejs and npm)"
  exit 77
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! command -v npm >/dev/null; then
    echo "error: node_modules is missing and npm is not installed (Debian: apt-get install npm)" >&2
    exit 1
  fi
  npm ci --prefer-offline --no-audit --no-fund
fi
exec node --test test.js
