#!/usr/bin/env bash
# Runs scripts/install-dependencies.sh on a fresh Debian 12 (a minimal bookworm container) and checks
# what it leaves behind: the test Python in a virtual environment, nothing pip-installed into the
# system Python (which PEP 668 marks as managed by Debian), and the packaged Prosody, ejabberd and
# PostgreSQL neither enabled nor listening. No Swift there: the build and the quick start run on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
base="$(bash scripts/base-image.sh)"
podman=(podman --runtime runc --cgroup-manager cgroupfs)

# The container's init: the checks, run once the script is done.
checks='
set -euo pipefail
cd /src
bash scripts/install-dependencies.sh
ls /usr/lib/python3*/EXTERNALLY-MANAGED >/dev/null
.venv/bin/python3 -c "import jwt, cryptography, http_ece"
if /usr/bin/python3 -c "import http_ece" 2>/dev/null; then echo "http_ece went into the system Python" >&2; exit 1; fi
for service in prosody ejabberd postgresql; do
    if [ -e "/etc/systemd/system/multi-user.target.wants/$service.service" ]; then
        echo "the packaged $service service is left enabled" >&2; exit 1
    fi
done
# 5222 c2s, 5269 s2s, 5280 HTTP, 5432 PostgreSQL: in /proc/net/tcp as hex, state 0A is LISTEN.
if awk '\''$4 == "0A" {split($2, a, ":"); print a[2]}'\'' /proc/net/tcp /proc/net/tcp6 | grep -Eqi "^(1466|1495|14A0|1538)$"; then
    echo "a packaged server is listening" >&2; exit 1
fi
# A second run finds everything in place and changes nothing.
bash scripts/install-dependencies.sh | tee /tmp/second-run
[ ! -s /tmp/second-run ]
echo "fresh Debian 12: dependencies installed, test Python in .venv, packaged services disabled and not listening"
'
source="$(mktemp -d /var/tmp/herald-fresh.XXXXXX)"
trap 'rm -rf "$source"' EXIT
mkdir -p "$source/scripts"
cp scripts/install-dependencies.sh "$source/scripts/"
# The host's trust store, for a network whose egress re-signs TLS (pip reaches PyPI over HTTPS).
trust=()
host_bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$host_bundle" ] && trust=(-v "$host_bundle:/etc/host-ca-bundle.crt:ro" -e PIP_CERT=/etc/host-ca-bundle.crt)
timeout 1200 "${podman[@]}" run --rm --ulimit nofile=10000:10000 --ulimit nproc=4000:4000 \
    "${trust[@]}" -v "$source:/src" "$base" bash -c "$checks"
