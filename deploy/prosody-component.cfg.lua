-- Prosody side of Herald: add to prosody.cfg.lua.
-- The component port is private and listens on loopback by default; keep it that way
-- unless Herald runs on another host (then use a private network or a TLS tunnel:
-- XEP-0114 has no encryption of its own).
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

Component "push.example.com"
    component_secret = "the same secret as components[].secret in herald.yaml"

-- Users on other servers reach push.example.com over s2s: publish DNS for it
-- (an _xmpp-server._tcp SRV record or an A/AAAA record pointing at this Prosody) and
-- make sure this Prosody's certificate covers push.example.com.
