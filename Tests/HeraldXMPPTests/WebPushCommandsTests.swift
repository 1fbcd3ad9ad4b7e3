import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct WebPushCommandsTests {
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
