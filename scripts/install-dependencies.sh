#!/usr/bin/env bash
# Installs the system packages Herald builds against and tests with (Debian/Ubuntu).
# Safe to run repeatedly: it installs only what is missing.
set -euo pipefail

packages=(libxml2-dev libsqlite3-dev pkg-config prosody prosody-modules lua-bitop)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
# Herald runs its own Prosody instances on other ports; the packaged service is not needed.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
