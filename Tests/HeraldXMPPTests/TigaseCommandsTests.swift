import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct TigaseCommandsTests {
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
