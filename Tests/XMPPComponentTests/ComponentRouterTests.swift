import Logging
import Testing
import XMLStream

@testable import XMPPComponent

private struct EchoCommand: AdHocCommand {
    let node = "echo"
    let name = "Echo a field"

    func execute(_ request: AdHocCommandRequest, context: ComponentContext) async throws(StanzaError) -> AdHocCommandResult {
        guard let value = request.form?["value"] else {
            throw StanzaError(.modify, "bad-request", applicationCondition: StreamElement("bad-payload", namespace: Namespace.commands))
        }
        if value == "fail" {
            return AdHocCommandResult(note: (.error, "it failed"))
        }
        return AdHocCommandResult(form: DataForm(type: "result", fields: [.init("echo", value: value)]))
    }
}

private let context = ComponentContext(domain: JID(domain: "push.example.com"), logger: Logger(label: "test"))

private func iq(
    _ type: String,
    to: String = "push.example.com",
    from: String = "romeo@example.org/phone",
    _ payload: StreamElement?
) -> StreamElement {
    var iq = StreamElement("iq", namespace: Stanza.componentNamespace, ["type": type, "id": "q1", "from": from, "to": to])
    if let payload { iq.append(payload) }
    return iq
}

private func routed(_ stanza: StreamElement) async -> StreamElement? {
    var router = ComponentRouter(identity: testIdentity, extraFeatures: [testFeature])
    router.register(EchoCommand())
    return await router.route(stanza, context: context)
}

private func errorCondition(_ reply: StreamElement?) -> (String?, String?) {
    let error = reply?.child("error")
    return (error?[attribute: "type"], error?.elements.first?.name)
}

@Suite struct ComponentRouterTests {
    @Test func discoInfoPresentsAPushServiceWithItsFeatures() async throws {
        let reply = try #require(await routed(iq("get", StreamElement("query", namespace: Namespace.discoInfo))))
        #expect(reply.stanzaType == "result")
        #expect(reply[attribute: "to"] == "romeo@example.org/phone")
        #expect(reply[attribute: "from"] == "push.example.com")
        #expect(reply.stanzaID == "q1")
        let query = try #require(reply.child("query", namespace: Namespace.discoInfo))
        let identity = try #require(query.child("identity"))
        #expect(identity[attribute: "category"] == "pubsub")
        #expect(identity[attribute: "type"] == "push")
        let features = Set(query.children("feature").compactMap { $0[attribute: "var"] })
        #expect(features.isSuperset(of: [testFeature, Namespace.discoInfo, Namespace.discoItems, Namespace.commands, Namespace.ping]))
    }

    @Test func discoItemsWithoutNodeIsEmpty() async throws {
        let reply = try #require(await routed(iq("get", StreamElement("query", namespace: Namespace.discoItems))))
        #expect(reply.stanzaType == "result")
        #expect(reply.child("query")?.elements.isEmpty == true)
    }

    @Test func commandListIsAdvertisedInDiscoItems() async throws {
        let request = StreamElement("query", namespace: Namespace.discoItems, ["node": Namespace.commands])
        let reply = try #require(await routed(iq("get", request)))
        let query = try #require(reply.child("query"))
        #expect(query[attribute: "node"] == Namespace.commands)
        let item = try #require(query.child("item"))
        #expect(item[attribute: "node"] == "echo")
        #expect(item[attribute: "jid"] == "push.example.com")
        #expect(item[attribute: "name"] == "Echo a field")
    }

    @Test func commandNodeHasItsOwnDiscoInfo() async throws {
        let reply = try #require(await routed(iq("get", StreamElement("query", namespace: Namespace.discoInfo, ["node": "echo"]))))
        let identity = try #require(reply.child("query")?.child("identity"))
        #expect(identity[attribute: "category"] == "automation")
        #expect(identity[attribute: "type"] == "command-node")
    }

    @Test func unknownDiscoNodeIsItemNotFound() async {
        let reply = await routed(iq("get", StreamElement("query", namespace: Namespace.discoInfo, ["node": "nope"])))
        #expect(errorCondition(reply) == ("cancel", "item-not-found"))
    }

    @Test func pingIsAnswered() async throws {
        let reply = try #require(await routed(iq("get", StreamElement("ping", namespace: Namespace.ping))))
        #expect(reply.stanzaType == "result")
        #expect(reply.elements.isEmpty)
    }

    @Test func unhandledRequestsGetServiceUnavailable() async {
        let reply = await routed(iq("get", StreamElement("query", namespace: "jabber:iq:version")))
        #expect(errorCondition(reply) == ("cancel", "service-unavailable"))
        #expect(reply?.stanzaType == "error")
    }

    @Test func errorElementIsInTheStanzaNamespaceOnTheWire() async throws {
        let reply = try #require(await routed(iq("get", StreamElement("query", namespace: "jabber:iq:version"))))
        #expect(reply.child("error")?.namespace == Stanza.componentNamespace)
        let wire = reply.serialized(inheritedNamespace: Stanza.componentNamespace)
        #expect(wire.contains("<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"))
        #expect(!wire.contains("xmlns=''"))
    }

    @Test func addressesUnderTheDomainAreNotModelled() async {
        let reply = await routed(iq("get", to: "someone@push.example.com", StreamElement("ping", namespace: Namespace.ping)))
        #expect(errorCondition(reply) == ("cancel", "service-unavailable"))
    }

    @Test func messagesPresenceAndResponsesGetNoReply() async {
        #expect(await routed(StreamElement("message", namespace: Stanza.componentNamespace, ["to": "push.example.com"])) == nil)
        #expect(await routed(StreamElement("presence", namespace: Stanza.componentNamespace)) == nil)
        #expect(await routed(iq("result", nil)) == nil)
    }

    @Test func commandExecutesAndCompletesWithAResultForm() async throws {
        let form = DataForm(type: "submit", fields: [.init("value", value: "hello")])
        let command = StreamElement("command", namespace: Namespace.commands, ["node": "echo", "action": "execute"])
            .appending(form.element)
        let reply = try #require(await routed(iq("set", command)))
        let response = try #require(reply.child("command", namespace: Namespace.commands))
        #expect(response[attribute: "status"] == "completed")
        #expect(response[attribute: "node"] == "echo")
        #expect(response[attribute: "sessionid"]?.isEmpty == false)
        #expect(DataForm.first(in: response)?["echo"] == "hello")
    }

    @Test func failedCommandCarriesAnErrorNote() async throws {
        let command = StreamElement("command", namespace: Namespace.commands, ["node": "echo"])
            .appending(DataForm(type: "submit", fields: [.init("value", value: "fail")]).element)
        let reply = try #require(await routed(iq("set", command)))
        let note = try #require(reply.child("command")?.child("note"))
        #expect(note[attribute: "type"] == "error")
        #expect(note.text == "it failed")
    }

    @Test func commandErrorsBecomeStanzaErrors() async throws {
        let reply = await routed(iq("set", StreamElement("command", namespace: Namespace.commands, ["node": "echo"])))
        #expect(errorCondition(reply) == ("modify", "bad-request"))
        #expect(reply?.child("error")?.child("bad-payload", namespace: Namespace.commands) != nil)
    }

    @Test func unknownCommandIsItemNotFound() async {
        let reply = await routed(iq("set", StreamElement("command", namespace: Namespace.commands, ["node": "launch-missiles"])))
        #expect(errorCondition(reply) == ("cancel", "item-not-found"))
    }

    @Test func commandsFromAServerAddressAreForbidden() async {
        let command = StreamElement("command", namespace: Namespace.commands, ["node": "echo"])
        let reply = await routed(iq("set", from: "example.org", command))
        #expect(errorCondition(reply) == ("cancel", "forbidden"))
    }

    @Test func cancelledCommandIsAcknowledged() async throws {
        let command = StreamElement("command", namespace: Namespace.commands, ["node": "echo", "action": "cancel", "sessionid": "s1"])
        let reply = try #require(await routed(iq("set", command)))
        #expect(reply.child("command")?[attribute: "status"] == "canceled")
        #expect(reply.child("command")?[attribute: "sessionid"] == "s1")
    }

    @Test func multiStageActionsAreRefused() async {
        let command = StreamElement("command", namespace: Namespace.commands, ["node": "echo", "action": "next"])
        let reply = await routed(iq("set", command))
        #expect(errorCondition(reply) == ("modify", "bad-request"))
        #expect(reply?.child("error")?.child("bad-action", namespace: Namespace.commands) != nil)
    }
}

/// What the application passes in: the library itself knows no identity and no push namespace.
let testIdentity = ComponentRouter.Identity(category: "pubsub", type: "push", name: "Test push service")
let testFeature = "urn:xmpp:push:0"
