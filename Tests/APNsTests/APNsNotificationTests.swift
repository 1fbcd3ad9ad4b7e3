import Crypto
import Foundation
import HeraldCore
import HeraldHarness
import HeraldSupport
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import APNs

@Suite struct APNsNotificationTests {
    @Test func siskinPayloadPassesTheEncryptedBlobThrough() {
        let publish = Publish(node: "n", publisherDomain: "example.org", encrypted: .init(payload: "QUJD", iv: "SVY="), highPriority: true)
        let notification = APNsNotification(push: push(.alert, registration: registration(dialect: .tigase), publish: publish), topic: "t", now: Date())
        #expect(notification.body == #"{"aps":{"alert":{"title":"New message"},"sound":"default","mutable-content":1},"account":"juliet@example.org","encrypted":"QUJD","iv":"SVY="}"#)
    }

    @Test func bodyAndSenderOnlyWhenTheAppAllows() {
        let plain = APNsNotification(push: push(.alert, registration: registration(dialect: .tigase)), topic: "t", now: Date())
        #expect(!plain.body.contains("hi"))
        #expect(!plain.body.contains("romeo"))
        let open = APNsNotification(
            push: push(.alert, registration: registration(dialect: .tigase), content: ContentPolicy(forwardBody: true, forwardSender: true, alertTitle: "Chat")),
            topic: "t", now: Date()
        )
        #expect(open.body == #"{"aps":{"alert":{"title":"Chat","body":"hi"},"sound":"default","mutable-content":1},"account":"juliet@example.org","sender":"romeo@example.org","body":"hi","unread-messages":2}"#)
    }

    @Test func jsonEscapesText() {
        let publish = Publish(node: "n", publisherDomain: "d", summary: .init(lastMessageBody: "a\"b\\c\nd\u{1}"))
        let notification = APNsNotification(push: push(.alert, publish: publish, content: ContentPolicy(forwardBody: true)), topic: "t", now: Date())
        let object = try? JSONSerialization.jsonObject(with: Data(notification.body.utf8)) as? [String: Any]
        #expect((object?["body"] as? String) == "a\"b\\c\nd\u{1}")
    }

    @Test func zeroTimeToLiveMeansTryOnce() {
        let notification = APNsNotification(push: push(content: ContentPolicy(timeToLive: 0)), topic: "t", now: Date())
        #expect(notification.expiration == 0)
    }

    @Test func voipPushesAreNeverStoredForLater() {
        let content = ContentPolicy(timeToLive: 86_400)
        #expect(APNsNotification(push: push(.voip, content: content), topic: "t", now: Date()).expiration == 0)
        #expect(APNsNotification(push: push(.alert, content: content), topic: "t", now: Date()).expiration > 0)
    }

    @Test func oversizedPayloadIsRejectedBeforeSending() async throws {
        let huge = Publish(node: "n", publisherDomain: "d", encrypted: .init(payload: String(repeating: "A", count: 5000), iv: "x"))
        let tokens = APNsTokenManager(key: try ExampleKeys.apnsKey(), keyID: "K", teamID: "T")
        let provider = try APNsProvider(configuration: .init(topic: "t"), authentication: .token(tokens), logger: Logger(label: "test"))
        #expect(await provider.send(push(.alert, publish: huge)) == .rejected(reason: "PayloadTooLarge"))
    }
}
