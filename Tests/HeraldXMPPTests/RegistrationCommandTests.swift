import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

private let ios = App(name: "ios", services: [.apns], tigaseProviders: App.defaultTigaseProviders(for: [.apns]))
private let android = App(name: "android", services: [.fcm, .webpush])
private let domain = JID(domain: "push.example.com")

/// A component router with every registration dialect, over an in-memory store.
private struct Harness {
    let store = InMemoryRegistrationStore()
    let router: ComponentRouter

    init(policy: RegistrationPolicy = .init(), encrypted: Bool = true) {
        var router = ComponentRouter.pushService()
        router.registerRegistrationCommands(
            RegistrationContext(
                apps: AppDirectory(apps: [android, ios], defaultApp: "android"),
                registrations: RegistrationService(store: store, policy: policy),
                supportsEncryptedPayloads: encrypted
            )
        )
        self.router = router
    }

    /// Routes an iq written as it arrives from the server (in the component namespace).
    func send(_ xml: String, from: String = "romeo@example.org/Conversations.x1") async throws -> XMLElement {
        let stream = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"
        let events = try XMLStreamParser().feed(Array((stream + xml).utf8))
        guard case .stanza(var stanza)? = events.last else { throw StanzaInbox.Closed() }
        stanza[attribute: "from"] = from
        stanza[attribute: "to"] = "push.example.com"
        let context = ComponentContext(domain: domain, logger: Logger(label: "test"))
        return try #require(await router.route(stanza, context: context))
    }
}

private func resultForm(_ reply: XMLElement) -> DataForm? {
    reply.child("command", namespace: Namespace.commands).flatMap { DataForm.first(in: $0) }
}

private func error(_ reply: XMLElement) -> (type: String?, condition: String?, app: String?) {
    let error = reply.child("error")
    return (
        error?[attribute: "type"],
        error?.elements.first { $0.namespace == StanzaError.namespace && $0.name != "text" }?.name,
        error?.elements.first { $0.namespace == Namespace.commands }?.name
    )
}

private func p2Register(_ service: String = "fcm", token: String = "dPrh685p:APA91bHtoken", device: String = "92afd7a91cdba9a0", deviceField: String = "android-id", muc: String? = nil, app: String? = nil) -> String {
    """
    <iq type='set' id='r1'>
     <command xmlns='http://jabber.org/protocol/commands' node='register-push-\(service)' action='execute'>
      <x xmlns='jabber:x:data' type='submit'>
       <field var='token'><value>\(token)</value></field>
       <field var='\(deviceField)'><value>\(device)</value></field>
       \(muc.map { "<field var='muc'><value>\($0)</value></field>" } ?? "")
       \(app.map { "<field var='app'><value>\($0)</value></field>" } ?? "")
      </x></command></iq>
    """
}

@Suite struct P2DialectTests {
    @Test func registerAnswersJIDNodeAndSecretInACompletedCommand() async throws {
        let harness = Harness()
        let reply = try await harness.send(p2Register())
        #expect(reply.stanzaType == "result")
        let command = try #require(reply.child("command", namespace: Namespace.commands))
        #expect(command[attribute: "status"] == "completed")
        #expect(command[attribute: "node"] == "register-push-fcm")
        let form = try #require(resultForm(reply))
        #expect(form.type == "form")
        #expect(form["jid"] == "push.example.com")
        let node = try #require(form["node"])
        let secret = try #require(form["secret"])
        let stored = try #require(try await harness.store.registration(node: node))
        #expect(stored.secret == secret)
        #expect(stored.token == "dPrh685p:APA91bHtoken")
        #expect(stored.service == .fcm)
        #expect(stored.app == "android")
        #expect(stored.accountDomain == "example.org")
    }

    @Test func deviceIDFieldWorksLikeAndroidID() async throws {
        let harness = Harness()
        let first = try #require(resultForm(try await harness.send(p2Register(deviceField: "android-id"))))
        let second = try #require(resultForm(try await harness.send(p2Register(token: "rotated", deviceField: "device-id"))))
        #expect(first["node"] == second["node"])
        #expect(first["secret"] == second["secret"])
        #expect(try await harness.store.registration(node: first["node"]!)?.token == "rotated")
    }

    @Test func apnsRegistrationSelectsTheAppByName() async throws {
        let harness = Harness()
        let reply = try await harness.send(p2Register("apns", token: "00FC13ADFF78", app: "ios"))
        let node = try #require(resultForm(reply)?["node"])
        let stored = try #require(try await harness.store.registration(node: node))
        #expect(stored.app == "ios")
        #expect(stored.token == "00fc13adff78")
        #expect(stored.environment == .production)
    }

    @Test func apnsOnAnAppWithoutAPNsIsItemNotFound() async throws {
        let reply = try await Harness().send(p2Register("apns", token: "00fc13adff78"))
        #expect(error(reply).type == "cancel")
        #expect(error(reply).condition == "item-not-found")
    }

    @Test func unknownAppIsItemNotFound() async throws {
        let reply = try await Harness().send(p2Register(app: "nope"))
        #expect(error(reply).condition == "item-not-found")
    }

    @Test func unknownServiceCommandIsItemNotFound() async throws {
        let reply = try await Harness().send(p2Register("wns"))
        #expect(error(reply).type == "cancel")
        #expect(error(reply).condition == "item-not-found")
    }

    @Test func missingTokenIsBadRequestWithBadPayload() async throws {
        let reply = try await Harness().send("""
            <iq type='set' id='r1'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'>
            <x xmlns='jabber:x:data' type='submit'><field var='android-id'><value>92afd7a91cdba9a0</value></field></x></command></iq>
            """)
        #expect(error(reply) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func missingDeviceIDIsBadRequestWithBadPayload() async throws {
        let reply = try await Harness().send("""
            <iq type='set' id='r1'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'>
            <x xmlns='jabber:x:data' type='submit'><field var='token'><value>t</value></field></x></command></iq>
            """)
        #expect(error(reply) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func commandWithoutAFormIsBadRequest() async throws {
        let reply = try await Harness().send("<iq type='set' id='r1'><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm'/></iq>")
        #expect(error(reply) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func fullJIDAsMUCIsBadRequest() async throws {
        let reply = try await Harness().send(p2Register(muc: "room@conference.example.org/nick"))
        #expect(error(reply) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func mucRegistrationIsItsOwnChannel() async throws {
        let harness = Harness()
        let plain = try #require(resultForm(try await harness.send(p2Register()))?["node"])
        let room = try #require(resultForm(try await harness.send(p2Register(muc: "room@conference.example.org")))?["node"])
        #expect(plain != room)
        #expect(try await harness.store.registration(node: room)?.channel != nil)
    }

    @Test func unregisterRemovesTheRegistrationAndThenIsItemNotFound() async throws {
        let harness = Harness()
        let node = try #require(resultForm(try await harness.send(p2Register()))?["node"])
        let unregister = """
            <iq type='set' id='u1'><command xmlns='http://jabber.org/protocol/commands' node='unregister-push-fcm' action='execute'>
            <x xmlns='jabber:x:data' type='submit'><field var='android-id'><value>92afd7a91cdba9a0</value></field></x></command></iq>
            """
        let reply = try await harness.send(unregister)
        #expect(reply.stanzaType == "result")
        #expect(reply.child("command")?[attribute: "status"] == "completed")
        #expect(try await harness.store.registration(node: node) == nil)
        #expect(error(try await harness.send(unregister)).condition == "item-not-found")
    }

    @Test func anotherAccountCannotUnregister() async throws {
        let harness = Harness()
        let node = try #require(resultForm(try await harness.send(p2Register()))?["node"])
        let unregister = """
            <iq type='set' id='u1'><command xmlns='http://jabber.org/protocol/commands' node='unregister-push-fcm'>
            <x xmlns='jabber:x:data' type='submit'><field var='android-id'><value>92afd7a91cdba9a0</value></field></x></command></iq>
            """
        #expect(error(try await harness.send(unregister, from: "mallory@evil.example/x")).condition == "item-not-found")
        #expect(try await harness.store.registration(node: node) != nil)
    }

    @Test func registrationFromTheServerItselfIsForbidden() async throws {
        let reply = try await Harness().send(p2Register(), from: "example.org")
        #expect(error(reply).condition == "forbidden")
    }

    @Test func deviceLimitCompletesWithAnErrorNote() async throws {
        let harness = Harness(policy: RegistrationPolicy(maximumDevicesPerAccount: 1))
        _ = try await harness.send(p2Register(device: "one"))
        let reply = try await harness.send(p2Register(device: "two"))
        let command = try #require(reply.child("command", namespace: Namespace.commands))
        #expect(command[attribute: "status"] == "completed")
        #expect(command.child("note")?[attribute: "type"] == "error")
        #expect(resultForm(reply) == nil)
    }

    @Test func rateLimitIsAWaitError() async throws {
        let harness = Harness(policy: RegistrationPolicy(maximumRegistrationsPerWindow: 2))
        _ = try await harness.send(p2Register())
        _ = try await harness.send(p2Register())
        let reply = try await harness.send(p2Register())
        #expect(error(reply).type == "wait")
        #expect(error(reply).condition == "resource-constraint")
    }

    @Test func serversNotListedInAllowedDomainsAreNotAllowed() async throws {
        let harness = Harness(policy: RegistrationPolicy(allowedDomains: ["example.org"]))
        #expect(error(try await harness.send(p2Register())).condition == nil)
        let refused = try await harness.send(p2Register(), from: "eve@elsewhere.example/x")
        #expect(error(refused).type == "cancel")
        #expect(error(refused).condition == "not-allowed")
    }

    @Test func aServerAtItsLimitIsToldToWait() async throws {
        let harness = Harness(policy: RegistrationPolicy(maximumRegistrationsPerDomain: 1))
        _ = try await harness.send(p2Register(device: "one"))
        let reply = try await harness.send(p2Register(device: "two"), from: "juliet@example.org/x")
        #expect(error(reply).type == "wait")
        #expect(error(reply).condition == "resource-constraint")
        #expect(reply.child("error")?.child("text", namespace: StanzaError.namespace)?.text.contains("your server") == true)
    }

    @Test func commandsAreAdvertisedInDiscoItems() async throws {
        let reply = try await Harness().send("<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>")
        let nodes = Set(reply.child("query")?.children("item").compactMap { $0[attribute: "node"] } ?? [])
        #expect(nodes == [
            "register-push-apns", "register-push-fcm", "unregister-push-apns", "unregister-push-fcm",
            "v1-register-push", "v1-unregister-push", "register-device", "unregister-device",
            "register-webpush", "unregister-webpush",
        ])
    }
}

@Suite struct V1DialectTests {
    private func register(node: String = "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E", type: String = "apns", token: String = "a1b2c3d4") -> String {
        """
        <iq type='set' id='r2'>
         <command xmlns='http://jabber.org/protocol/commands' node='v1-register-push' action='execute'>
          <x xmlns='jabber:x:data' type='submit'>
           <field var='FORM_TYPE' type='hidden'><value>https://github.com/tmolitor-stud-tu/mod_push_appserver/#v1-register-push</value></field>
           <field var='type'><value>\(type)</value></field>
           <field var='node'><value>\(node)</value></field>
           <field var='token'><value>\(token)</value></field></x></command></iq>
        """
    }

    @Test func registerKeepsTheClientsNodeAndIssuesASecret() async throws {
        let harness = Harness()
        let reply = try await harness.send(register(type: "fcm", token: "fcm-token"))
        let form = try #require(resultForm(reply))
        #expect(form["jid"] == "push.example.com")
        #expect(form["node"] == "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E")
        #expect(form["secret"]?.count == 24)
        #expect(try await harness.store.registration(node: "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E")?.dialect == .v1)
    }

    @Test func sameNodeAndTypeReRegisteringKeepsTheSecret() async throws {
        let harness = Harness()
        let first = try #require(resultForm(try await harness.send(register(type: "fcm", token: "one"))))
        let second = try #require(resultForm(try await harness.send(register(type: "fcm", token: "two"))))
        #expect(first["secret"] == second["secret"])
    }

    @Test func anotherAccountCannotTakeTheNode() async throws {
        let harness = Harness()
        _ = try await harness.send(register(type: "fcm", token: "mine"))
        let reply = try await harness.send(register(type: "fcm", token: "theirs"), from: "mallory@evil.example/x")
        #expect(error(reply).condition == "conflict")
        #expect(try await harness.store.registration(node: "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E")?.token == "mine")
    }

    @Test func unknownTypeIsItemNotFound() async throws {
        #expect(error(try await Harness().send(register(type: "mpns"))).condition == "item-not-found")
    }

    @Test func missingNodeIsBadPayload() async throws {
        let reply = try await Harness().send("""
            <iq type='set' id='r2'><command xmlns='http://jabber.org/protocol/commands' node='v1-register-push'>
            <x xmlns='jabber:x:data' type='submit'><field var='type'><value>fcm</value></field><field var='token'><value>t</value></field></x></command></iq>
            """)
        #expect(error(reply) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func unregisterAnswersJIDAndNode() async throws {
        let harness = Harness()
        _ = try await harness.send(register(type: "fcm", token: "t"))
        let reply = try await harness.send("""
            <iq type='set' id='u2'><command xmlns='http://jabber.org/protocol/commands' node='v1-unregister-push'>
            <x xmlns='jabber:x:data' type='submit'><field var='type'><value>fcm</value></field>
            <field var='node'><value>E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E</value></field></x></command></iq>
            """)
        #expect(resultForm(reply)?["node"] == "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E")
        #expect(try await harness.store.count() == 0)
    }
}

@Suite struct TigaseDialectTests {
    private func register(provider: String = "tigase:messenger:apns:1", token: String = "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0", second: String? = "5a5b5c5d") -> String {
        """
        <iq type='set' id='r3'>
         <command xmlns='http://jabber.org/protocol/commands' node='register-device' action='execute'>
          <x xmlns='jabber:x:data' type='submit'>
           <field var='provider'><value>\(provider)</value></field>
           <field var='device-token'><value>\(token)</value></field>
           \(second.map { "<field var='device-second-token'><value>\($0)</value></field>" } ?? "")
          </x></command></iq>
        """
    }

    @Test func registerAnswersNodeFeaturesAndMaxPayloadSizeAndNoSecret() async throws {
        let harness = Harness()
        let reply = try await harness.send(register(), from: "juliet@capulet.example/Siskin")
        let form = try #require(resultForm(reply))
        let node = try #require(form["node"])
        #expect(form["secret"] == nil)
        #expect(form.fields.first { $0.name == "features" }?.values == ["tigase:push:encrypt:0", "tigase:push:encrypt:aes-128-gcm"])
        #expect(form["max-payload-size"] == "3000")
        let stored = try #require(try await harness.store.registration(node: node))
        #expect(stored.app == "ios")
        #expect(stored.service == .apns)
        #expect(stored.voipToken == "5a5b5c5d")
        #expect(stored.pushAccount == "juliet@capulet.example")
        #expect(stored.secret == nil)
    }

    @Test func encryptionIsNotAdvertisedUntilPassThroughIsOn() async throws {
        let form = try #require(resultForm(try await Harness(encrypted: false).send(register())))
        #expect(form.fields.first { $0.name == "features" }?.values == [])
    }

    @Test func unknownProviderIsItemNotFound() async throws {
        #expect(error(try await Harness().send(register(provider: "tigase:messenger:wns:1"))).condition == "item-not-found")
    }

    @Test func nonHexAPNsTokenIsBadPayload() async throws {
        #expect(error(try await Harness().send(register(token: "not-hex!"))) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func providersAreAdvertisedInDiscoInfo() async throws {
        let reply = try await Harness().send("<iq type='get' id='d2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        let features = reply.child("query")?.children("feature").compactMap { $0[attribute: "var"] } ?? []
        #expect(features.contains("tigase:messenger:apns:1"))
        #expect(features.contains("urn:xmpp:push:0"))
        #expect(features.contains("tigase:push:encrypt:0"))
        #expect(features.contains("tigase:push:encrypt:aes-128-gcm"))
        let plain = try await Harness(encrypted: false).send("<iq type='get' id='d3'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        #expect(plain.child("query")?.children("feature").contains { $0[attribute: "var"] == "tigase:push:encrypt:0" } == false)
    }

    @Test func unregisterDevice() async throws {
        let harness = Harness()
        _ = try await harness.send(register())
        let reply = try await harness.send("""
            <iq type='set' id='u3'><command xmlns='http://jabber.org/protocol/commands' node='unregister-device'>
            <x xmlns='jabber:x:data' type='submit'><field var='provider'><value>tigase:messenger:apns:1</value></field>
            <field var='device-token'><value>00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0</value></field></x></command></iq>
            """)
        #expect(reply.stanzaType == "result")
        #expect(try await harness.store.count() == 0)
    }
}

@Suite struct WebPushDialectTests {
    // A real-shaped subscription: a P-256 point (0x04 ‖ X ‖ Y, base64url) and a 16-byte auth secret.
    private let p256dh = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    private let auth = "tBHItJI5svbpez7KI4CCXg"

    private func register(endpoint: String = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABh", p256dh: String? = nil, auth: String? = nil) -> String {
        """
        <iq type='set' id='w1'><command xmlns='http://jabber.org/protocol/commands' node='register-webpush'>
        <x xmlns='jabber:x:data' type='submit'>
        <field var='endpoint'><value>\(endpoint)</value></field>
        <field var='p256dh'><value>\(p256dh ?? self.p256dh)</value></field>
        <field var='auth'><value>\(auth ?? self.auth)</value></field></x></command></iq>
        """
    }

    @Test func subscriptionIsStoredWithItsKeys() async throws {
        let harness = Harness()
        let form = try #require(resultForm(try await harness.send(register())))
        let node = try #require(form["node"])
        let stored = try #require(try await harness.store.registration(node: node))
        #expect(stored.service == .webpush)
        #expect(stored.token == "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABh")
        #expect(stored.webPushKeys == WebPushKeys(p256dh: p256dh, auth: auth))
        #expect(form["secret"] != nil)
    }

    @Test(arguments: ["http://insecure.example/push", "not a url", "mailto:x@example.org"])
    func endpointMustBeHTTPS(endpoint: String) async throws {
        #expect(error(try await Harness().send(register(endpoint: endpoint))) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func malformedKeysAreRefused() async throws {
        #expect(error(try await Harness().send(register(p256dh: "AAAA"))) == ("modify", "bad-request", "bad-payload"))
        #expect(error(try await Harness().send(register(auth: "c2hvcnQ"))) == ("modify", "bad-request", "bad-payload"))
    }

    @Test func unregisterByEndpoint() async throws {
        let harness = Harness()
        _ = try await harness.send(register())
        let reply = try await harness.send("""
            <iq type='set' id='w2'><command xmlns='http://jabber.org/protocol/commands' node='unregister-webpush'>
            <x xmlns='jabber:x:data' type='submit'><field var='endpoint'><value>https://updates.push.services.mozilla.com/wpush/v2/gAAAAABh</value></field></x></command></iq>
            """)
        #expect(reply.stanzaType == "result")
        #expect(try await harness.store.count() == 0)
    }
}
