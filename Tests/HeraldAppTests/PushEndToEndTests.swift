import Crypto
import CryptoExtras
import FCM
import Foundation
import HeraldApp
import HeraldCore
import HeraldHarness
import HeraldSupport
import HeraldTesting
import InMemoryLogging
import Logging
import MockVendors
import ServiceLifecycle
import Testing
import VendorSupport
import XMLStream
import XMPPComponent

/// The whole path: a real Prosody with mod_cloud_notify publishes to Herald, which pushes to the
/// mock APNs, and Prosody acts on Herald's reply.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PushEndToEndTests {
    private static let secret = "component-secret"

    /// Prosody, the mock APNs and Herald, running for the length of `body`.
    /// The mock vendors of one test.
    struct Vendors {
        let apns: MockAPNsServer
        let fcm: MockFCMServer
        let webPush: MockWebPushServer
    }

    private func withPushPath(
        users: [String],
        coalescingWindow: String = "100ms",
        settings: [String: String] = [:],
        _ body: (ProsodyServer, MockAPNsServer, HeraldApplication, InMemoryLogHandler) async throws -> Void
    ) async throws {
        try await withAllVendors(users: users, coalescingWindow: coalescingWindow, settings: settings) { prosody, vendors, application, logs in
            try await body(prosody, vendors.apns, application, logs)
        }
    }

    /// `settings`: more configuration, as environment variables.
    private func withAllVendors(
        users: [String],
        coalescingWindow: String = "100ms",
        settings: [String: String] = [:],
        _ body: (ProsodyServer, Vendors, HeraldApplication, InMemoryLogHandler) async throws -> Void
    ) async throws {
        let prosody = try ProsodyServer(components: [.init(domain: "push.localhost", secret: Self.secret)])
        for user in users + ["juliet"] { try await prosody.register(user: user, password: "pass") }
        try await prosody.start()
        defer { prosody.terminate() }
        let apns = try await MockAPNsServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            credentials: try ExampleKeys.mockAPNsCredentials()
        )
        let serviceAccount = try ServiceAccount(json: Data(contentsOf: URL(fileURLWithPath: ExampleKeys.fcmServiceAccountPath)))
        let fcm = try await MockFCMServer.start(
            certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath,
            publicKey: serviceAccount.privateKey.publicKey, projectID: serviceAccount.projectID
        )
        let webPush = try await MockWebPushServer.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath)
        let vendors = MockVendorEnvironment.apns(url: apns.url, topic: "org.example.chat").merging(MockVendorEnvironment.fcm(url: fcm.url)) { a, _ in a }
        let configuration = try HeraldConfiguration.load(path: nil, environment: vendors.merging([
            "HERALD_XMPP__PORT": "\(prosody.componentPort)",
            "HERALD_COMPONENTS__0__DOMAIN": "push.localhost",
            "HERALD_COMPONENTS__0__SECRET": Self.secret,
            "HERALD_ADMIN__PORT": "0",
            "HERALD_APPS__0__NAME": "chat",
            "HERALD_APPS__0__WEBPUSH__VAPID_PRIVATE_KEY_FILE": ExampleKeys.vapidKeyPath,
            "HERALD_APPS__0__WEBPUSH__SUBJECT": "mailto:ops@example.org",
            "HERALD_APPS__0__WEBPUSH__CA_FILE": ExampleKeys.tlsCertificatePath,
            // The mock Web Push service listens on loopback.
            "HERALD_APPS__0__WEBPUSH__ALLOW_PRIVATE_ENDPOINTS": "true",
            "HERALD_DELIVERY__RETRY_INITIAL_DELAY": "200ms",
            "HERALD_DELIVERY__RETRY_MAX_DELAY": "400ms",
            "HERALD_DELIVERY__COALESCING_WINDOW": coalescingWindow,
        ].merging(settings) { _, setting in setting }) { a, _ in a })
        var logs = InMemoryLogHandler()
        logs.logLevel = .debug
        let handler = logs
        let application = try HeraldApplication(
            configuration: configuration, logger: Logger(label: "herald") { _ in handler }, store: InMemoryRegistrationStore()
        )
        let group = application.serviceGroup(signals: false)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(30)) { application.components[0].status.isConnected }, "\(prosody.log.suffix(3000))")
            do {
                try await body(prosody, Vendors(apns: apns, fcm: fcm, webPush: webPush), application, logs)
            } catch {
                Issue.record("prosody log tail: \(prosody.log.suffix(3000))")
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await apns.stop()
        await fcm.stop()
        await webPush.stop()
    }

    private func requests(_ apns: MockAPNsServer, token: String) -> [MockAPNsServer.Request] {
        apns.requests.filter { $0.deviceToken == token }
    }

    @Test func offlineUserGetsExactlyOneValidAlertPush() async throws {
        try await withPushPath(users: ["romeo"]) { prosody, apns, application, logs in
            let token = "aa01" + String(repeating: "0", count: 60)
            let (client, node) = try await registerAndEnable("romeo", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "romeo", prosody: prosody)

            #expect(await eventually { requests(apns, token: token).count == 1 }, "prosody: \(prosody.log.suffix(2000))")
            try await Task.sleep(for: .milliseconds(500))
            let pushes = requests(apns, token: token)
            #expect(pushes.count == 1)
            let push = try #require(pushes.first)
            #expect(push.status == 200)
            #expect(push.issuer == ExampleKeys.apnsTeamID)
            #expect(push.headers["apns-topic"] == "org.example.chat")
            #expect(push.headers["apns-push-type"] == "alert")
            #expect(push.headers["apns-priority"] == "10")
            #expect(!push.body.contains("Wherefore"), "message bodies are not forwarded by default")
            // Logged once the vendor's answer is in, which the mock's record of the request precedes.
            #expect(await eventually { logs.entries.contains { $0.message == "publish answered" && $0.metadata[LogKey.outcome] == "delivered" } })
            #expect(!prosody.log.contains("Got error"))
            let registration = try #require(try await application.store.registration(node: node))

            // Herald logs at debug level here; none of it may carry a token, secret, node or body.
            let logged = logs.entries.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
            #expect(logs.entries.count > 3)
            for secretValue in [token, try #require(registration.secret), node, "Wherefore", Self.secret] {
                #expect(!logged.contains(secretValue), "logs leak \(secretValue)")
            }
        }
    }

    @Test func fcmRegistrationGetsAPushForAnOfflineUser() async throws {
        try await withAllVendors(users: ["paris"]) { prosody, vendors, _, _ in
            let token = "fcm-e2e-token-paris"
            let (client, _) = try await registerAndEnable("paris", token: token, prosody: prosody, command: "register-push-fcm")
            await client.close()
            try await sendMessage(to: "paris", prosody: prosody)
            #expect(await eventually { vendors.fcm.messages.contains { $0.token == token } }, "prosody: \(prosody.log.suffix(2000))")
            let message = try #require(vendors.fcm.messages.first { $0.token == token })
            #expect(message.status == 200)
            let raw = "\(message.json["_raw"] ?? "")"
            #expect(raw.contains(#""priority":"HIGH""#))
            #expect(raw.contains(#""account":""#))
            #expect(vendors.fcm.tokenRequests == 1)
        }
    }

    @Test func webPushSubscriptionGetsAPushForAnOfflineUser() async throws {
        try await withAllVendors(users: ["nurse"]) { prosody, vendors, _, _ in
            let subscriber = P256.KeyAgreement.PrivateKey()
            let auth = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
            let (client, _) = try await registerAndEnable(
                "nurse", token: "", prosody: prosody, command: "register-webpush",
                fields: [
                    ("endpoint", vendors.webPush.endpoint("nurse-subscription")),
                    ("p256dh", Base64URL.encode(subscriber.publicKey.x963Representation)),
                    ("auth", Base64URL.encode(auth)),
                ]
            )
            await client.close()
            try await sendMessage(to: "nurse", prosody: prosody)
            #expect(await eventually { vendors.webPush.received.contains { $0.id == "nurse-subscription" } }, "prosody: \(prosody.log.suffix(2000))")
            let delivery = try #require(vendors.webPush.received.first { $0.id == "nurse-subscription" })
            #expect(delivery.status == 201)
            let (status, output) = try await PythonCheck.run(
                """
                import sys, http_ece
                from cryptography.hazmat.primitives import serialization
                key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
                sys.stdout.write(http_ece.decrypt(open(sys.argv[1], "rb").read(), private_key=key, auth_secret=open(sys.argv[3], "rb").read(), version="aes128gcm").decode())
                """,
                files: [delivery.body, Data(subscriber.pemRepresentation.utf8), auth]
            )
            #expect(status == 0, "http_ece: \(output)")
            #expect(output.contains(#""priority":"high""#))
        }
    }

    @Test func hibernatedStreamManagementSessionGetsAPush() async throws {
        try await withPushPath(users: ["mercutio"]) { prosody, apns, _, _ in
            let token = "bb02" + String(repeating: "0", count: 60)
            let (client, _) = try await registerAndEnable("mercutio", token: token, prosody: prosody)
            try await client.write("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
            _ = try await client.inbox.next("smacks enabled") { $0.name == "enabled" }
            try await client.write("<presence/>")
            _ = try await client.inbox.next("own presence") { $0.name == "presence" }
            await client.dropConnection()
            #expect(await eventually { prosody.log.contains("Session going into hibernation") })
            try await sendMessage(to: "mercutio", prosody: prosody)

            #expect(await eventually { requests(apns, token: token).count >= 1 }, "prosody: \(prosody.log.suffix(2000))")
            #expect(requests(apns, token: token).first?.status == 200)
            #expect(requests(apns, token: token).first?.issuer == ExampleKeys.apnsTeamID)
            // The push came from the hibernated session's queue, not from offline storage.
            #expect(prosody.log.contains("Invoking cloud handle_notify_request() for newly smacks queued stanza"))
            #expect(!prosody.log.contains("for offline stanza"))
        }
    }

    /// Monal's fpush dialect: no registration, the token as the node and `pushModule` naming the app.
    @Test func monalEnablingWithItsTokenAsTheNodeGetsPushesUntilTheTokenDies() async throws {
        let settings = ["HERALD_APPS__0__STATELESS__PUSH_MODULES": "monalProdiOS", "HERALD_APPS__0__STATELESS__MIN_INTERVAL": "1s"]
        try await withPushPath(users: ["benvolio"], settings: settings) { prosody, apns, application, _ in
            let token = "dd04" + String(repeating: "0", count: 60)
            let client = try await TestXMPPClient.connect(port: prosody.clientPort, username: "benvolio", domain: "localhost", password: "pass", resource: "phone")
            let enable = StreamElement("enable", namespace: "urn:xmpp:push:0", ["jid": "push.localhost", "node": token])
                .appending(DataForm(type: "submit", fields: [
                    .init("FORM_TYPE", value: "http://jabber.org/protocol/pubsub#publish-options"),
                    .init("pushModule", value: "monalProdiOS"),
                ]).element)
            let enabled = try await client.request(type: "set", to: nil, payload: enable)
            #expect(enabled.stanzaType == "result")
            await client.close()
            try await sendMessage(to: "benvolio", prosody: prosody)

            #expect(await eventually { requests(apns, token: token).count == 1 }, "prosody: \(prosody.log.suffix(2000))")
            #expect(requests(apns, token: token).first?.status == 200)
            #expect(requests(apns, token: token).first?.headers["apns-topic"] == "org.example.chat")
            #expect(try await application.store.registration(node: token) == nil, "nothing was registered")
            #expect(!prosody.log.contains("Got error"))

            // The token dies: the push a second message brings tells Prosody to drop the node.
            apns.script(token, .unregistered)
            try await sendMessage(to: "benvolio", prosody: prosody)
            #expect(await eventually { requests(apns, token: token).count == 2 })
            #expect(await eventually { prosody.log.contains("Got error <cancel:item-not-found") }, "prosody: \(prosody.log.suffix(2000))")
        }
    }

    @Test func deadTokenRemovesTheRegistrationAndProsodyHearsItemNotFound() async throws {
        try await withPushPath(users: ["tybalt"]) { prosody, apns, application, _ in
            let token = "cc03" + String(repeating: "0", count: 60)
            apns.script(token, .unregistered)
            let (client, node) = try await registerAndEnable("tybalt", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "tybalt", prosody: prosody)

            #expect(await eventually { requests(apns, token: token).count == 1 })
            #expect(try await eventually { try await application.store.registration(node: node) == nil })
            #expect(await eventually { prosody.log.contains("Got error <cancel:item-not-found") }, "prosody: \(prosody.log.suffix(2000))")
        }
    }

    @Test func vendorOutageGetsAWaitErrorAndHeraldRetries() async throws {
        try await withPushPath(users: ["benvolio"]) { prosody, apns, application, _ in
            let token = "dd04" + String(repeating: "0", count: 60)
            apns.script(token, .unavailable)
            let (client, node) = try await registerAndEnable("benvolio", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "benvolio", prosody: prosody)

            #expect(await eventually { prosody.log.contains("Got error <wait:internal-server-error") }, "prosody: \(prosody.log.suffix(2000))")
            #expect(prosody.log.contains("NOT increasing error count"))
            #expect(await eventually { requests(apns, token: token).count >= 2 }, "Herald retries in the background")
            apns.script(token, .success)
            #expect(await eventually { requests(apns, token: token).contains { $0.status == 200 } })
            #expect(try await application.store.registration(node: node) != nil)
        }
    }

    private func outcomes(_ logs: InMemoryLogHandler) -> [String] {
        logs.entries.filter { $0.message == "publish answered" }.compactMap { $0.metadata[LogKey.outcome].map { "\($0)" } }
    }

    @Test func duringAnOutageTwoPublishesInARowBothHearWaitAndThePushGoesOnceTheVendorIsBack() async throws {
        try await withPushPath(users: ["balthasar"]) { prosody, apns, application, logs in
            let token = "dd05" + String(repeating: "0", count: 60)
            apns.script(token, .failure(status: 503, reason: "ServiceUnavailable", retryAfter: 3))
            let (client, node) = try await registerAndEnable("balthasar", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "balthasar", prosody: prosody)
            #expect(await eventually { outcomes(logs) == ["retrying"] }, "\(outcomes(logs))")
            try await sendMessage(to: "balthasar", prosody: prosody)
            #expect(await eventually { outcomes(logs) == ["retrying", "retrying"] }, "\(outcomes(logs))")
            #expect(requests(apns, token: token).count == 1, "the second publish rode on the queued retry")
            #expect(!prosody.log.contains("increasing error count") || prosody.log.contains("NOT increasing error count"))
            apns.script(token, .success)
            #expect(await eventually { requests(apns, token: token).contains { $0.status == 200 } }, "delivered once the vendor is back")
            #expect(try await application.store.registration(node: node) != nil)
        }
    }

    @Test func aBurstWhoseTokenDiesInBetweenHearsItemNotFoundForItsLastPublish() async throws {
        try await withPushPath(users: ["abram"], coalescingWindow: "3s") { prosody, apns, application, logs in
            let token = "dd06" + String(repeating: "0", count: 60)
            let (client, node) = try await registerAndEnable("abram", token: token, prosody: prosody)
            await client.close()
            try await sendMessage(to: "abram", prosody: prosody)
            #expect(await eventually { outcomes(logs) == ["delivered"] }, "\(outcomes(logs))")
            apns.script(token, .unregistered)
            try await sendMessage(to: "abram", prosody: prosody)
            #expect(await eventually { outcomes(logs) == ["delivered", "token_removed"] }, "\(outcomes(logs))")
            #expect(requests(apns, token: token).map(\.status) == [200, 410])
            #expect(try await application.store.registration(node: node) == nil)
            #expect(await eventually { prosody.log.contains("Got error <cancel:item-not-found") }, "prosody: \(prosody.log.suffix(2000))")
        }
    }

    @Test func aStrangersOversizedAndDeepStanzasLeaveTheComponentLinkUp() async throws {
        try await withPushPath(users: ["romeo", "mallory"]) { prosody, apns, application, logs in
            let token = "ee05" + String(repeating: "0", count: 60)
            let (client, _) = try await registerAndEnable("romeo", token: token, prosody: prosody)
            await client.close()
            let component = application.components[0].status
            let connectionsBefore = component.establishedConnections

            // Prosody forwards all three; it re-escapes each apostrophe as &apos;, about 600 KB on the component stream.
            let mallory = try await TestXMPPClient.connect(
                port: prosody.clientPort, username: "mallory", domain: "localhost", password: "pass", resource: "r"
            )
            let apostrophes = String(repeating: "'", count: 100_000)
            try await mallory.write("<message to='push.localhost' id='big'><body>\(apostrophes)</body></message>")
            let deep = String(repeating: "<a xmlns='urn:example:deep'>", count: 80) + String(repeating: "</a>", count: 80)
            try await mallory.write("<message to='push.localhost' id='deep'>\(deep)</message>")
            let reply = try await mallory.request(type: "get", to: JID(domain: "push.localhost"), payload: StreamElement(
                "query", namespace: "http://jabber.org/protocol/disco#info",
                children: [.element(StreamElement("x", namespace: "urn:example:deep", children: [.text(deep)]))]
            ))
            // The payload above holds the nesting as text; send a truly nested iq by hand as well.
            let deepIQ = "<iq type='get' to='push.localhost' id='deep-iq'><query xmlns='http://jabber.org/protocol/disco#info'>\(deep)</query></iq>"
            try await mallory.write(deepIQ)
            let deepReply = try await mallory.inbox.next("deep iq reply") { $0.stanzaID == "deep-iq" }
            #expect(reply.stanzaType == "result", "a large but legal disco query is still answered")
            #expect(deepReply.stanzaType == "error")
            #expect(StanzaError(stanza: deepReply)?.condition == "policy-violation")
            await mallory.close()

            let sent = ContinuousClock.now
            try await sendMessage(to: "romeo", prosody: prosody)
            #expect(await eventually { requests(apns, token: token).count == 1 }, "prosody: \(prosody.log.suffix(2000))")
            // Prosody batches pushes for about a second; a reconnect would add at least its backoff on top.
            #expect(ContinuousClock.now - sent < .seconds(5))
            #expect(component.establishedConnections == connectionsBefore, "the component link was never dropped")
            #expect(component.isConnected)
            let skipped = logs.entries.filter { $0.message == "stanza over a limit skipped" }.map { $0.metadata[ComponentLogKey.stanzaID] }
            #expect(skipped == ["big", "deep", "deep-iq"], "Prosody forwarded all three and Herald skipped each")
        }
    }
}
