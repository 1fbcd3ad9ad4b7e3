#!/usr/bin/env bash
# Runs Herald's whole test suite, including the end-to-end tests against a real Prosody that the
# tests start themselves on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
# Warnings are errors (Package.swift); then every target's imports are held to its declared edges.
swift build --build-tests
python3 scripts/check-imports.py
# The volume tests, and the scale-out tests (several herald processes, ejabberd and PostgreSQL at
# once), keep both cores busy; they run on their own, after the rest, so that the timing of the
# others is not theirs to spoil.
heavy="VendorVolumeEndToEndTests|ScaleOutEndToEndTests"
if [ $# -gt 0 ]; then
    swift test --skip-build "$@"
else
    swift test --skip-build --skip "$heavy"
    swift test --skip-build --filter "$heavy"
fi
