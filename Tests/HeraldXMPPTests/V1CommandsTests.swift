import HeraldCore
import HeraldTesting
import Logging
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct V1CommandsTests {
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
