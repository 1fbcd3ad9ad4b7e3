-- Prosody for deploy/compose: one host, "localhost", with mod_cloud_notify and Herald's component.
pidfile = "/var/lib/prosody/prosody.pid"
data_path = "/var/lib/prosody"
log = { { levels = { min = "info" }, to = "console" } }
plugin_paths = { "/usr/lib/prosody/modules/mod_cloud_notify" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "carbons", "smacks", "mam", "cloud_notify" }
modules_disabled = { "s2s" }
s2s_ports = { }
http_ports = { }
https_ports = { }

-- A local demonstration without certificates. Give a real host a certificate and drop these two lines.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

-- The component port is reachable only on compose's private network. XEP-0114 has no encryption of its
-- own: never publish this port.
component_ports = { 5347 }
component_interfaces = { "*" }

VirtualHost "localhost"

Component "push.localhost"
    component_secret = ENV_COMPONENT_SECRET
