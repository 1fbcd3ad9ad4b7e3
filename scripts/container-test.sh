#!/usr/bin/env bash
# Builds Herald's container image and runs it with podman against a Prosody and a mock APNs on the
# host (Tests/HeraldAppTests/ContainerEndToEndTests.swift). No image registry is reachable here, so the
# base image is a Debian bookworm made with debootstrap and the binary is the one built on the host
# (deploy/Containerfile.prebuilt); deploy/Dockerfile is the same image built with a Swift builder stage.
# Run after scripts/test.sh, which builds the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

base="$(bash scripts/base-image.sh)"
# runc and cgroupfs: crun fails on these machines' cgroup layout.
podman=(podman --runtime runc --cgroup-manager cgroupfs)

bin="$(swift build --show-bin-path)"
context="$(mktemp -d /var/tmp/herald-image.XXXXXX)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/swift-runtime"
cp "$bin/herald" "$context/herald"
# The Swift runtime a dynamically linked build needs, from the toolchain it was built with.
ldd "$bin/herald" | awk '$3 ~ /^\// && $3 !~ /^\/(usr\/)?lib/ {print $3}' | xargs -r -I{} cp {} "$context/swift-runtime/"
image=localhost/herald:test
# Docker format keeps the HEALTHCHECK (OCI images have no field for it).
"${podman[@]}" build --quiet --format docker --build-arg BASE_IMAGE="$base" -f deploy/Containerfile.prebuilt -t "$image" "$context" >/dev/null
echo "built $image: $("${podman[@]}" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"

HERALD_CONTAINER_IMAGE="$image" swift test --skip-build --filter ContainerEndToEndTests
