import Foundation
import HeraldCore
import HeraldTesting
import Logging
import Synchronization
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

func stanza(_ xml: String) throws -> StreamElement {
    let stream = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept'>"
    guard case .stanza(let element)? = try XMLStreamParser().feed(Array((stream + xml).utf8)).last else { throw StanzaInbox.Closed() }
    return element
}

/// What Prosody 0.12's mod_cloud_notify sends: a `type='form'` summary with every field, empty ones
/// without a value, and the secret in publish-options.
let prosodyPublish = """
    <iq type='set' from='example.org' to='push.example.com' id='a1b2'>
      <pubsub xmlns='http://jabber.org/protocol/pubsub'>
        <publish node='eKxTS5n3bOe0'><item><notification xmlns='urn:xmpp:push:0'>
          <x xmlns='jabber:x:data' type='form'>
            <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>
            <field var='message-count'><value>1</value></field>
            <field var='pending-subscription-count'/>
            <field var='last-message-sender'/>
            <field var='last-message-body'><value>New Message!</value></field>
          </x></notification></item></publish>
        <publish-options><x xmlns='jabber:x:data' type='submit'>
          <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
          <field var='secret'><value>KK4+H5WMfpRG/2zCbuKq6wpX</value></field>
        </x></publish-options>
      </pubsub></iq>
    """

/// ejabberd's mod_push: a `type='submit'` summary without message-count; ids with `/`, `+` and `=`.
let ejabberdPublish = """
    <iq type='set' from='example.com' to='push.example.com' id='Zm9v/YmFy+MQ=='>
     <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='NODE'><item>
      <notification xmlns='urn:xmpp:push:0'>
       <x xmlns='jabber:x:data' type='submit'>
        <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>
        <field var='last-message-sender' type='jid-single'><value>juliet@capulet.example</value></field>
        <field var='last-message-body' type='text-single'><value>New message</value></field>
       </x></notification></item></publish>
      <publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>s</value></field></x></publish-options>
     </pubsub></iq>
    """

let bareNotificationPublish = """
    <iq type='set' from='example.com' to='push.example.com' id='b1'>
     <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='NODE'><item>
      <notification xmlns='urn:xmpp:push:0'/></item></publish></pubsub></iq>
    """

/// Prosody with mod_cloud_notify_encrypted and _priority_tag, for Siskin: no summary, no publish-options.
let tigasePublish = """
    <iq type='set' from='capulet.example' to='push.example.com' id='t1'>
     <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='NODE'><item>
      <notification xmlns='urn:xmpp:push:0'>
       <encrypted xmlns='tigase:push:encrypt:0' iv='MTIzNDU2Nzg5MDEy' type='voip'>Y2lwaGVydGV4dCt0YWc=</encrypted>
       <priority xmlns='tigase:push:priority:0'>high</priority>
      </notification></item></publish></pubsub></iq>
    """

/// A publish for a real node whose content Herald cannot read still wakes the device: an error that is
/// not `wait` would make ejabberd drop the registration.
@Suite struct UnreadablePublishContentTests {
    @Test(arguments: [
        "<encrypted xmlns='tigase:push:encrypt:0'>no-iv</encrypted>",
        "<encrypted xmlns='tigase:push:encrypt:0' iv='MTIz'/>",
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field><field var='message-count'><value>many</value></field></x>",
    ])
    func isPushedAsABackgroundPush(content: String) throws {
        let xml = """
            <iq type='set' from='example.org' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item>
            <notification xmlns='urn:xmpp:push:0'>\(content)</notification></item></publish></pubsub></iq>
            """
        let publish = try PublishParser.parse(try stanza(xml))
        #expect(publish.node == "n")
        #expect(publish.encrypted == nil)
        #expect(PushClass.of(publish, registration: Registration(node: "n", secret: nil, app: "chat", service: .apns, dialect: .tigase, token: "t", deviceKey: "d", createdAt: Date())) == .background)
    }
}

private final class FixedDispatcher: PublishProcessing {
    let outcome: PublishOutcome
    let received = Mutex<[Publish]>([])
    init(_ outcome: PublishOutcome) { self.outcome = outcome }
    func publish(_ publish: Publish) async -> PublishOutcome {
        received.withLock { $0.append(publish) }
        return outcome
    }
}

@Suite struct PublishHandlerTests {
    private func reply(_ outcome: PublishOutcome, draining: Bool = false) async throws -> StreamElement? {
        var router = ComponentRouter.pushService()
        router.registerPublishHandler(PublishHandler(dispatcher: FixedDispatcher(outcome)))
        let context = ComponentContext(domain: JID(domain: "push.example.com"), logger: Logger(label: "test"), isDraining: { draining })
        return await router.route(try stanza(prosodyPublish), context: context)
    }

    private func condition(_ reply: StreamElement?) -> (String?, String?) {
        let error = reply?.child("error")
        return (error?[attribute: "type"], error?.elements.first { $0.name != "text" }?.name)
    }

    @Test func deliveredIsResult() async throws {
        let answer = try #require(try await reply(.delivered))
        #expect(answer.stanzaType == "result")
        #expect(answer.stanzaID == "a1b2")
        #expect(answer[attribute: "to"] == "example.org")
        #expect(answer[attribute: "from"] == "push.example.com")
    }

    @Test(arguments: [
        (PublishOutcome.unknownNode, "cancel", "item-not-found"),
        (.tokenRemoved(reason: "Unregistered"), "cancel", "item-not-found"),
        (.forbidden, "auth", "forbidden"),
        (.retrying(reason: "ServiceUnavailable"), "wait", "internal-server-error"),
        (.notDelivered(reason: "ServiceUnavailable"), "wait", "internal-server-error"),
        (.unconfirmed(reason: "timedOut"), "wait", "internal-server-error"),
        (.failed(reason: "InvalidProviderToken"), "wait", "internal-server-error"),
        (.overloaded, "wait", "resource-constraint"),
    ])
    func outcomesMapToTheRightErrors(outcome: PublishOutcome, type: String, condition: String) async throws {
        #expect(self.condition(try await reply(outcome)) == (type, condition))
    }

    @Test func onlyDeadOrUnknownNodesGetANonWaitErrorOtherThanForbidden() {
        let outcomes: [PublishOutcome] = [.retrying(reason: "x"), .notDelivered(reason: "x"), .unconfirmed(reason: "x"), .failed(reason: "x"), .overloaded]
        #expect(outcomes.allSatisfy { PublishHandler.reply(to: $0)?.type == .wait })
    }

    @Test func onlyAQueuedRetrySaysRetrying() {
        #expect(PublishHandler.reply(to: .retrying(reason: "x"))?.text?.contains("retrying") == true)
        #expect(PublishHandler.reply(to: .unconfirmed(reason: "timedOut"))?.text?.contains("retrying") == false)
        #expect(PublishHandler.reply(to: .notDelivered(reason: "ServiceUnavailable"))?.text?.contains("retrying") == false)
    }

    @Test func theReadmesReplyTableQuotesEveryReplyWordForWord() throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("README.md"),
            encoding: .utf8
        )
        let table = readme.components(separatedBy: "| What happened | Reply").last?.components(separatedBy: "\n\n").first ?? ""
        let outcomes: [PublishOutcome] = [
            .unknownNode, .forbidden, .tokenRemoved(reason: "R"), .retrying(reason: "R"), .retrying(reason: "Herald restarting"),
            .notDelivered(reason: "R"), .unconfirmed(reason: "R"), .failed(reason: "R"), .overloaded,
        ]
        for outcome in outcomes {
            let error = try #require(PublishHandler.reply(to: outcome))
            let quoted = "`\(error.type.rawValue)/\(error.condition)` \"\(error.text ?? "")\""
            #expect(table.contains(quoted), "README's reply table lacks \(quoted)")
        }
        #expect(table.contains("`wait/resource-constraint` \"push service is restarting\""))
        for malformed in ["expected a pubsub publish", "publish without a node", "publish without a sender"] {
            #expect(table.contains("\"\(malformed)\""))
        }
    }

    @Test func drainingTurnsPublishesAwayWithWait() async throws {
        #expect(condition(try await reply(.delivered, draining: true)) == ("wait", "resource-constraint"))
    }

    @Test func errorTextNeverCarriesTheSecretOrNode() async throws {
        let answer = try #require(try await reply(.forbidden))
        let wire = answer.serialized(inheritedNamespace: Stanza.componentNamespace)
        #expect(!wire.contains("KK4+H5WMfpRG"))
        #expect(!wire.contains("eKxTS5n3bOe0"))
    }
}
