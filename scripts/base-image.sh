#!/usr/bin/env bash
# Makes the Debian bookworm base image the container checks run on, once, and prints its name.
# No image registry is reachable from CI, so it is made with debootstrap from Debian's own packages.
set -euo pipefail
need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${need[@]}" >&2
fi
# runc and cgroupfs: crun fails on these machines' cgroup layout.
podman=(podman --runtime runc --cgroup-manager cgroupfs)
base=localhost/herald-base:bookworm
if ! "${podman[@]}" image exists "$base"; then
    rootfs="$(mktemp -d /var/tmp/herald-rootfs.XXXXXX)"
    debootstrap --variant=minbase --include=libxml2,libsqlite3-0,ca-certificates bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . | "${podman[@]}" import - "$base" >/dev/null
    rm -rf "$rootfs"
fi
echo "$base"
