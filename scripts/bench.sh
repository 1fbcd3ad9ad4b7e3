#!/usr/bin/env bash
# Builds Herald and its benchmark in release mode and runs the whole-path benchmark; arguments go to
# `herald-bench path` (e.g. --only "window 1000" or --quick). `herald-bench store` measures SQLite alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product herald
swift build -c release --product herald-bench
swift build -c release --product herald-bench-vendor
exec .build/release/herald-bench path "$@"
