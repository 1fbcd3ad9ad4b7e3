import HeraldHarness
import HeraldTesting
import Testing
import XMLStream
import XMPPComponent

// What an XMPP client does to get pushes, shared by the end-to-end tests (in process and in a container).

/// Logs in, registers a device (APNs the p2 way unless told otherwise), and enables push on
/// Prosody with the node and secret it got.
func registerAndEnable(
    _ user: String,
    token: String,
    prosody: ProsodyServer,
    resource: String = "phone",
    command: String = "register-push-apns",
    fields: [(String, String)]? = nil
) async throws -> (TestXMPPClient, String) {
    try await registerAndEnable(user, token: token, clientPort: prosody.clientPort, resource: resource, command: command, fields: fields)
}

/// The same through any server's client port (Prosody's or ejabberd's, both serving `localhost`).
func registerAndEnable(
    _ user: String,
    token: String,
    clientPort: Int,
    resource: String = "phone",
    command: String = "register-push-apns",
    fields: [(String, String)]? = nil
) async throws -> (TestXMPPClient, String) {
    let client = try await TestXMPPClient.connect(port: clientPort, username: user, domain: "localhost", password: "pass", resource: resource)
    let reply = try await client.execute(
        command: command, at: "push.localhost",
        fields: fields ?? [("token", token), ("device-id", "\(user)-device")]
    )
    let node = try #require(reply.commandForm?["node"])
    let secret = try #require(reply.commandForm?["secret"])
    let enable = StreamElement("enable", namespace: "urn:xmpp:push:0", ["jid": "push.localhost", "node": node])
        .appending(DataForm(type: "submit", fields: [
            .init("FORM_TYPE", value: "http://jabber.org/protocol/pubsub#publish-options"),
            .init("secret", value: secret),
        ]).element)
    let enabled = try await client.request(type: "set", to: nil, payload: enable)
    #expect(enabled.stanzaType == "result")
    return (client, node)
}

func sendMessage(to user: String, prosody: ProsodyServer) async throws {
    try await sendMessage(to: user, clientPort: prosody.clientPort)
}

func sendMessage(to user: String, clientPort: Int, body: String = "Wherefore art thou?") async throws {
    let juliet = try await TestXMPPClient.connect(port: clientPort, username: "juliet", domain: "localhost", password: "pass", resource: "desk")
    try await juliet.write("<message to='\(user)@localhost' type='chat' id='\(juliet.makeID())'><body>\(body)</body></message>")
    await juliet.close()
}

/// Whether Herald's component answers a ping through Prosody within `timeout`, asked as `user` (who must
/// exist on `prosody`): how tests that run the `herald` binary know it is connected.
func heraldAnswers(through prosody: ProsodyServer, as user: String, timeout: Duration = .seconds(20)) async throws -> Bool {
    let probe = try await TestXMPPClient.connect(port: prosody.clientPort, username: user, domain: "localhost", password: "pass", resource: "probe")
    defer { Task { await probe.close() } }
    return await eventually(timeout: timeout) {
        let reply = try? await probe.request(
            type: "get", to: JID(domain: "push.localhost"),
            payload: StreamElement("ping", namespace: Namespace.ping), timeout: .milliseconds(500)
        )
        return reply?.stanzaType == "result"
    }
}
