#!/usr/bin/env bash
# Runs Herald's whole test suite, including the end-to-end tests against a real Prosody that the
# tests start themselves on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build --build-tests
swift test --skip-build "$@"
