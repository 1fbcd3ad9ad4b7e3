#!/usr/bin/env bash
# Installs the system packages Herald builds against and tests with (Debian/Ubuntu).
# Safe to run repeatedly: it installs only what is missing.
set -euo pipefail
pip_missing=()

packages=(libxml2-dev libsqlite3-dev pkg-config prosody prosody-modules lua-bitop ejabberd postgresql curl)

# Independent implementations the tests check Herald's JWTs and encryption against.
python_modules=(jwt cryptography http_ece)
python_packages=(pyjwt cryptography http_ece)
for index in "${!python_modules[@]}"; do
    python3 -c "import ${python_modules[$index]}" 2>/dev/null || pip_missing+=("${python_packages[$index]}")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
    echo "installing from PyPI: ${pip_missing[*]}"
    python3 -m pip install --quiet "${pip_missing[@]}"
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
# Herald's tests run their own Prosody and ejabberd instances on other ports; the packaged services must
# not start (policy-rc.d tells the packages' scripts so, for the length of the install).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
