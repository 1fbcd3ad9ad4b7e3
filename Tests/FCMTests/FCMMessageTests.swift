import CryptoExtras
import Foundation
import HeraldCore
import HeraldTesting
import Logging
import MockVendors
import Testing
import VendorSupport

@testable import FCM

@Suite struct FCMMessageTests {
    private func json(_ push: PushRequest, notification: Bool = false) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(FCMMessage.body(for: push, notification: notification).utf8)) as? [String: Any]
        return try #require(object?["message"] as? [String: Any])
    }

    @Test func importantPushIsHighPriorityDataOnlyWithP2Keys() throws {
        let message = try json(push(.alert))
        #expect(message["token"] as? String == "fcm-token-1")
        #expect(message["notification"] == nil)
        let data = try #require(message["data"] as? [String: String])
        #expect(data == ["account": "c773892af3806b9a0496456ba00664b1b5a08116", "unread-messages": "3"])
        let android = try #require(message["android"] as? [String: String])
        #expect(android == ["priority": "HIGH", "ttl": "86400s", "collapse_key": "c77389"])
    }

    @Test func backgroundPushIsNormalPriority() throws {
        let android = try #require(try json(push(.background))["android"] as? [String: String])
        #expect(android["priority"] == "NORMAL")
    }

    @Test func mucRegistrationCarriesItsChannel() throws {
        let data = try #require(try json(push(registration: registration(channel: "abc123")))["data"] as? [String: String])
        #expect(data["channel"] == "abc123")
    }

    @Test func optionalNotificationBlockAndPrivacy() throws {
        let plain = try json(push(.alert), notification: true)
        #expect((plain["notification"] as? [String: String]) == ["title": "New message"])
        #expect(!(FCMMessage.body(for: push(), notification: true).contains("romeo")))
        let open = try json(push(.alert, content: ContentPolicy(forwardBody: true, forwardSender: true)), notification: true)
        #expect((open["data"] as? [String: String])?["body"] == "hi")
        #expect((open["data"] as? [String: String])?["sender"] == "romeo@example.org")
        #expect((open["notification"] as? [String: String])?["body"] == "hi")
    }

    @Test func serviceAccountErrorsAreSpecific() {
        #expect(throws: ServiceAccount.Invalid.self) { try ServiceAccount(json: Data("{}".utf8)) }
        #expect(throws: ServiceAccount.Invalid.self) { try ServiceAccount(json: Data(#"{"type":"service_account"}"#.utf8)) }
        #expect(throws: ServiceAccount.Invalid.self) { try ServiceAccount(json: Data("not json".utf8)) }
    }
}
