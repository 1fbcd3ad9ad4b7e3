#!/usr/bin/env bash
# Installs what Herald builds against and tests with, on Debian 12 or Ubuntu 24.04.
#   scripts/install-dependencies.sh             everything the tests need
#   scripts/install-dependencies.sh quickstart  only what the quick start needs (build, Prosody, curl)
# Safe to run repeatedly: it installs only what is missing and leaves what was already there alone.
# Nothing goes into the system Python (PEP 668 refuses that): Debian's python3-jwt and
# python3-cryptography, and a virtual environment in .venv for http_ece, which Debian does not package.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-tests}"
case "$purpose" in
    tests | quickstart) ;;
    *) echo "usage: $0 [tests|quickstart]" >&2; exit 2 ;;
esac

packages=(libxml2-dev libsqlite3-dev pkg-config prosody prosody-modules lua-bitop curl)
if [ "$purpose" = tests ]; then
    # ejabberd and PostgreSQL for the end-to-end tests; Python with the independent implementations
    # (PyJWT, cryptography, http_ece) that the tests check Herald's JWTs and encryption against;
    # nghttp2 and OpenSSL for the benchmark's vendor in C (herald-bench-vendor; Herald uses neither).
    packages+=(ejabberd postgresql python3 python3-jwt python3-cryptography python3-venv libnghttp2-dev libssl-dev)
fi
# Services the packages above would leave enabled: the tests and the quick start run their own
# instances on other ports, and a Debian Prosody listening on 5222/5269 is not what anyone asked for.
services=(prosody ejabberd postgresql)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    # policy-rc.d keeps the packages' scripts from starting their services during the install.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
        trap '$sudo rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # And kept from starting at boot: only the services this run installed, never one that was there.
    for service in "${services[@]}"; do
        [[ " ${missing[*]} " == *" $service "* ]] || continue
        if [ -d /run/systemd/system ]; then
            $sudo systemctl disable --now --quiet "$service" 2>/dev/null || true
        elif command -v systemctl >/dev/null; then
            $sudo systemctl disable --quiet "$service" 2>/dev/null || true
        else
            # No systemd here (a container): the unit's enablement links, as the package made them.
            $sudo deb-systemd-helper disable "$service.service" 2>/dev/null || true
        fi
        if [ -x "/etc/init.d/$service" ]; then $sudo update-rc.d "$service" disable >/dev/null 2>&1 || true; fi
        echo "disabled the packaged $service service (Herald's tests and quick start run their own)"
    done
fi

if [ "$purpose" = tests ]; then
    venv=.venv
    # Debian's Python, whose packages above are what the environment sees: a Python earlier on the
    # PATH (pyenv, conda) has neither.
    system_python=/usr/bin/python3
    [ -x "$venv/bin/python3" ] || "$system_python" -m venv --system-site-packages "$venv"
    if ! "$venv/bin/python3" -c "import jwt, cryptography, http_ece" 2>/dev/null; then
        echo "installing from PyPI into $venv: http_ece"
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check http_ece
    fi
    "$venv/bin/python3" -c "import jwt, cryptography, http_ece"
fi
