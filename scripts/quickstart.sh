#!/usr/bin/env bash
# Sets up and runs the whole path locally: a Prosody from the system packages with Herald's
# component configured (loopback only, in ./run/quickstart), and Herald connected to it.
# Stop with Ctrl-C; Prosody is stopped with it.
#   --once: stop after the test push, exiting with its status, on ports chosen free (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
once=false
[ "${1:-}" = "--once" ] && once=true
work="$root/run/quickstart"
$once && work="$(mktemp -d /tmp/herald-quickstart.XXXXXX)"

scripts/install-dependencies.sh quickstart
swift build --product herald
herald="$(swift build --show-bin-path)/herald"

mkdir -p "$work/data"
port() {
    if $once; then
        # A port the kernel just handed out and let go: free now, and out of the fixed range below.
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        echo "$1"
    fi
}
c2s_port="${QUICKSTART_C2S_PORT:-$(port 15222)}"
component_port="${QUICKSTART_COMPONENT_PORT:-$(port 15347)}"
mock_port="${QUICKSTART_MOCK_PORT:-$(port 15443)}"
fcm_port="${QUICKSTART_FCM_PORT:-$(port 15444)}"
webpush_port="${QUICKSTART_WEBPUSH_PORT:-$(port 15445)}"
admin_port="${QUICKSTART_ADMIN_PORT:-$(port 15480)}"
secret_file="$work/component.secret"
[ -s "$secret_file" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$secret_file"
secret="$(cat "$secret_file")"
admin_token_file="$work/admin.token"
[ -s "$admin_token_file" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$admin_token_file"
admin_token="$(cat "$admin_token_file")"

cat > "$work/prosody.cfg.lua" <<LUA
daemonize = false
run_as_root = true
pidfile = "$work/prosody.pid"
data_path = "$work/data"
plugin_paths = { "/usr/lib/prosody/modules/mod_cloud_notify" }
log = { info = "$work/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
component_ports = { $component_port }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_direct_tls_ports = { }
modules_enabled = { "roster", "saslauth", "disco", "ping", "carbons", "smacks", "mam", "cloud_notify", "posix" }
modules_disabled = { "s2s", "tls" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"

VirtualHost "localhost"

Component "push.localhost"
    component_secret = "$secret"
LUA

cat > "$work/herald.yaml" <<YAML
xmpp:
  host: 127.0.0.1
  port: $component_port
components:
  - domain: push.localhost
    secret_file: $secret_file
apps:
  - name: quickstart
    apns:
      topic: org.example.quickstart
      environment: sandbox
      key_file: $root/keys.example/apns/AuthKey_FAKE000KEY.p8
      key_id: FAKE000KEY
      team_id: FAKETEAM01
      production_url: https://127.0.0.1:$mock_port
      sandbox_url: https://127.0.0.1:$mock_port
      ca_file: $root/keys.example/tls/mock-vendor.crt
    fcm:
      service_account_file: $root/keys.example/fcm/service-account.json
      endpoint: https://127.0.0.1:$fcm_port
      token_uri: https://127.0.0.1:$fcm_port/token
      ca_file: $root/keys.example/tls/mock-vendor.crt
    webpush:
      vapid_private_key_file: $root/keys.example/webpush/vapid-private.pem
      subject: mailto:quickstart@example.org
      ca_file: $root/keys.example/tls/mock-vendor.crt
      # The mock Web Push service runs on loopback; real endpoints must be public.
      allow_private_endpoints: true
storage:
  path: $work/herald.sqlite
admin:
  port: $admin_port
  token_file: $admin_token_file
log:
  level: info
YAML

prosodyctl --config "$work/prosody.cfg.lua" register alice localhost alice-password >/dev/null
prosodyctl --config "$work/prosody.cfg.lua" register bob localhost bob-password >/dev/null

prosody --config "$work/prosody.cfg.lua" >>"$work/prosody.log" 2>&1 &
prosody_pid=$!
"$herald" mock-vendor --port "$mock_port" --fcm-port "$fcm_port" --webpush-port "$webpush_port" --apns-key "$root/keys.example/apns/AuthKey_FAKE000KEY.p8" >>"$work/mock-vendor.log" 2>&1 &
mock_pid=$!
# Wait (at most 10 s) for Prosody's component port, so Herald's first connection succeeds.
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$component_port") 2>/dev/null && break
    sleep 0.1
done

"$herald" serve --config "$work/herald.yaml" &
herald_pid=$!
stop_all() {
    kill -TERM "$herald_pid" 2>/dev/null; wait "$herald_pid" 2>/dev/null
    kill "$prosody_pid" "$mock_pid" 2>/dev/null; wait "$prosody_pid" "$mock_pid" 2>/dev/null || true
    if $once; then rm -rf "$work"; fi
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# Wait (at most 30 s) until Herald is ready: connected to Prosody, store open, credentials loaded.
for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$admin_port/ready" >/dev/null || { echo "Herald did not become ready: see the log above" >&2; exit 1; }

# A demonstration device, registered over the HTTP API, and a test push through the real path.
registered="$(curl -fsS -X POST "http://127.0.0.1:$admin_port/v1/registrations" \
    -H "Authorization: Bearer $admin_token" -H "Content-Type: application/json" \
    -d '{"service":"apns","token":"0123456789abcdef","account":"alice@localhost","device":"quickstart-demo","environment":"sandbox"}')"
node="$(echo "$registered" | sed -n 's/.*"node":"\([^"]*\)".*/\1/p')"
echo
echo "Test push to the demonstration device (node $node):"
if $once; then
    "$herald" push-test --config "$work/herald.yaml" -- "$node"
    # The mock verified the provider token against the example key and logged the push it accepted.
    grep -q "^200 OK .*topic=org.example.quickstart .*jwt=valid" "$work/mock-vendor.log" \
        || { echo "the mock APNs logged no accepted push" >&2; exit 1; }
    echo "quick start: the test push went through Herald to the mock APNs"
    exit 0
fi
"$herald" push-test --config "$work/herald.yaml" -- "$node" || true

cat <<INFO

Herald quickstart
  Prosody:  c2s 127.0.0.1:$c2s_port (users alice / alice-password, bob / bob-password on "localhost"),
            component port 127.0.0.1:$component_port, log $work/prosody.log
  Herald:   component push.localhost, configuration $work/herald.yaml, database $work/herald.sqlite
            admin http://127.0.0.1:$admin_port (/health, /ready, /metrics; /v1 with the token in $admin_token_file)
  Vendors:  no Apple or Google account needed: mock APNs (port $mock_port), FCM ($fcm_port) and
            Web Push ($webpush_port) check every push (log $work/mock-vendor.log)
  Try it:   $herald push-test --config $work/herald.yaml -- $node
            curl -s http://127.0.0.1:$admin_port/metrics | grep herald_
            Or the XMPP way: log in as alice with any XMPP client, run push.localhost's
            register-push-apns command (token: any hex string), enable push with the node and secret
            it returns, log out, and send alice a message as bob: the push shows up at the mock.
  Stop:     Ctrl-C

INFO
wait "$herald_pid"
