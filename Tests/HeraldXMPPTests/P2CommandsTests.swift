import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct P2CommandsTests {
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
