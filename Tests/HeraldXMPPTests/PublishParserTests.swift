import Foundation
import HeraldCore
import HeraldTesting
import Logging
import Synchronization
import Testing
import XMLStream
import XMPPComponent

@testable import HeraldXMPP

@Suite struct PublishParserTests {
    @Test func prosodyFormWithEmptyFields() throws {
        let publish = try PublishParser.parse(try stanza(prosodyPublish))
        #expect(publish.node == "eKxTS5n3bOe0")
        #expect(publish.publisherDomain == "example.org")
        #expect(publish.secret == "KK4+H5WMfpRG/2zCbuKq6wpX")
        #expect(publish.summary == Publish.Summary(messageCount: 1, lastMessageBody: "New Message!"))
        #expect(publish.encrypted == nil)
        #expect(!publish.highPriority)
    }

    @Test(arguments: [("example.org", true), ("mallory@example.org", false), ("example.org/res", false), ("m@example.org/r", false)])
    func onlyAFromWithoutLocalpartOrResourceIsTheServer(from: String, isServer: Bool) throws {
        let publish = try PublishParser.parse(try stanza(prosodyPublish.replacingOccurrences(of: "from='example.org'", with: "from='\(from)'")))
        #expect(publish.publisherIsServer == isServer)
        #expect(publish.publisherDomain == "example.org")
    }

    @Test func ejabberdSubmitWithoutMessageCount() throws {
        let publish = try PublishParser.parse(try stanza(ejabberdPublish))
        #expect(publish.summary == Publish.Summary(lastMessageSender: "juliet@capulet.example", lastMessageBody: "New message"))
        #expect(publish.secret == "s")
    }

    @Test func bareNotification() throws {
        let publish = try PublishParser.parse(try stanza(bareNotificationPublish))
        #expect(publish.summary == nil)
        #expect(publish.secret == nil)
        #expect(publish.node == "NODE")
    }

    @Test func tigaseEncryptedAndPriority() throws {
        let publish = try PublishParser.parse(try stanza(tigasePublish))
        #expect(publish.encrypted == Publish.Encrypted(payload: "Y2lwaGVydGV4dCt0YWc=", iv: "MTIzNDU2Nzg5MDEy", type: "voip"))
        #expect(publish.highPriority)
        #expect(publish.secret == nil)
    }

    @Test func theComponentAddressedIsKept() throws {
        let publish = try PublishParser.parse(try stanza(prosodyPublish))
        #expect(publish.component == "push.example.com")
        #expect(publish.pushModule == nil)
        #expect(publish.environment == nil)
    }

    /// Openfire's clients add `sandbox` to the publish-options; fpush's (Monal) add `pushModule`.
    @Test(arguments: [
        ("<field var='sandbox'><value>true</value></field>", nil, APNsEnvironment.sandbox),
        ("<field var='sandbox'><value>1</value></field>", nil, .sandbox),
        ("<field var='sandbox'><value>false</value></field>", nil, .production),
        ("<field var='sandbox'><value>perhaps</value></field>", nil, nil),
        ("<field var='pushModule'><value>monalProdiOS</value></field>", "monalProdiOS", nil),
        ("<field var='pushModule'><value></value></field>", nil, nil),
    ] as [(String, String?, APNsEnvironment?)])
    func publishOptionsOfOpenfireAndFpushClients(field: String, pushModule: String?, environment: APNsEnvironment?) throws {
        let xml = prosodyPublish.replacingOccurrences(
            of: "<field var='secret'><value>KK4+H5WMfpRG/2zCbuKq6wpX</value></field>",
            with: "<field var='secret'><value>KK4+H5WMfpRG/2zCbuKq6wpX</value></field>\(field)"
        )
        let publish = try PublishParser.parse(try stanza(xml))
        #expect(publish.pushModule == pushModule)
        #expect(publish.environment == environment)
        #expect(publish.secret == "KK4+H5WMfpRG/2zCbuKq6wpX")
    }

    /// MongooseIM's publish as its push plugin builds it: a `submit` summary, and the client's enable
    /// form (its PubSub-less fields) as publish-options, from the server's own JID.
    static let mongooseIMPublish = """
        <iq type='set' from='mim.example' to='push.example.com' id='mim1'>
          <pubsub xmlns='http://jabber.org/protocol/pubsub'>
            <publish node='client-chosen-node'><item><notification xmlns='urn:xmpp:push:0'>
              <x xmlns='jabber:x:data' type='submit'>
                <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>
                <field var='message-count'><value>3</value></field>
                <field var='last-message-sender'><value>juliet@mim.example</value></field>
                <field var='last-message-body'><value>Hi</value></field>
              </x></notification></item></publish>
            <publish-options><x xmlns='jabber:x:data' type='submit'>
              <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>
              <field var='service'><value>apns</value></field>
              <field var='device_id'><value>DEVICE</value></field>
              <field var='mode'><value>MODE</value></field>
              <field var='silent'><value>SILENT</value></field>
              <field var='priority'><value>PRIORITY</value></field>
              <field var='topic'><value>org.example.chat</value></field>
            </x></publish-options>
          </pubsub></iq>
        """

    @Test(arguments: [("dev", "true", "high", APNsEnvironment.sandbox, true, true), ("prod", "false", "normal", .production, false, false)])
    func mongooseIMsPublishOptionsCarryTheDevice(mode: String, silent: String, priority: String, environment: APNsEnvironment, isSilent: Bool, high: Bool) throws {
        let xml = Self.mongooseIMPublish.replacingOccurrences(of: "DEVICE", with: "abc123")
            .replacingOccurrences(of: "MODE", with: mode).replacingOccurrences(of: "SILENT", with: silent).replacingOccurrences(of: "PRIORITY", with: priority)
        let publish = try PublishParser.parse(try stanza(xml))
        #expect(publish.device == Publish.Device(token: "abc123", service: "apns", silent: isSilent, topic: "org.example.chat"))
        #expect(publish.environment == environment)
        #expect(publish.highPriority == high)
        #expect(publish.publisherIsServer)
        #expect(publish.node == "client-chosen-node")
        #expect(publish.summary == Publish.Summary(messageCount: 3, lastMessageSender: "juliet@mim.example", lastMessageBody: "Hi"))
    }

    @Test func withoutADeviceIDTheOptionsCarryNoDevice() throws {
        let xml = Self.mongooseIMPublish.replacingOccurrences(of: "<field var='device_id'><value>DEVICE</value></field>", with: "")
        #expect(try PublishParser.parse(try stanza(xml)).device == nil)
        #expect(try PublishParser.parse(try stanza(prosodyPublish)).device == nil)
    }

    @Test(arguments: [
        "<iq type='set' from='example.org' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>",
        "<iq type='set' from='example.org' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish/></pubsub></iq>",
        "<iq type='set' id='x'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'/></pubsub></iq>",
    ])
    func publishesWithoutANodeOrSenderAreBadRequest(xml: String) throws {
        #expect(throws: StanzaError.self) { try PublishParser.parse(try stanza(xml)) }
        do {
            _ = try PublishParser.parse(try stanza(xml))
        } catch let error as StanzaError {
            #expect(error.type == .modify)
            #expect(error.condition == "bad-request")
        }
    }
}
