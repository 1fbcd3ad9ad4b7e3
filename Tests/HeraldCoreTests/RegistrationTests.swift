import Foundation
import Testing

@testable import HeraldCore

@Suite struct RegistrationTests {
    private static let created = Date(timeIntervalSince1970: 1_700_000_000)

    private static func full() -> Registration {
        Registration(
            node: "node-1", secret: "s3cret", app: "chat", service: .apns, dialect: .p2, token: "aa11",
            voipToken: "bb22", webPushKeys: WebPushKeys(p256dh: "key", auth: "auth"), environment: .sandbox,
            accountDomain: "example.org", accountKey: "account-key", pushAccount: "push-account", channel: "room",
            deviceKey: "device-key", createdAt: created, updatedAt: created.addingTimeInterval(1),
            lastPushAt: created.addingTimeInterval(2), lastFailure: "Unregistered"
        )
    }

    /// The registration as JSON, one entry per field.
    private static func json(_ registration: Registration) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let object = try #require(try JSONSerialization.jsonObject(with: encoder.encode(registration)) as? [String: Any])
        // Each value as sorted JSON, so that a nested object reads the same however its keys were hashed.
        return try object.mapValues { value in
            String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
        }
    }

    /// Each field's setter changes that field and no other, in the copy it is called on only: a copy
    /// shares its fields with the original until it changes one.
    @Test func eachFieldChangesOnlyItselfAndOnlyInTheCopyChanged() throws {
        let original = Self.full()
        let before = try Self.json(original)
        let later = Self.created.addingTimeInterval(100)
        let changes: [(String, (inout Registration) -> Void)] = [
            ("node", { $0.node = "node-2" }), ("secret", { $0.secret = nil }), ("app", { $0.app = "mail" }),
            ("service", { $0.service = .fcm }), ("dialect", { $0.dialect = .tigase }), ("token", { $0.token = "cc33" }),
            ("voipToken", { $0.voipToken = nil }), ("webPushKeys", { $0.webPushKeys = WebPushKeys(p256dh: "other", auth: "auth") }),
            ("environment", { $0.environment = .production }), ("accountDomain", { $0.accountDomain = "example.net" }),
            ("accountKey", { $0.accountKey = "other-key" }), ("pushAccount", { $0.pushAccount = "other-account" }),
            ("channel", { $0.channel = nil }), ("deviceKey", { $0.deviceKey = "other-device" }),
            ("createdAt", { $0.createdAt = later }), ("updatedAt", { $0.updatedAt = later }),
            ("lastPushAt", { $0.lastPushAt = later }), ("lastFailure", { $0.lastFailure = nil }),
        ]
        #expect(Set(changes.map(\.0)) == Set(before.keys), "every field is exercised")
        for (field, change) in changes {
            var copy = original
            change(&copy)
            let after = try Self.json(copy)
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }
            #expect(changed == [field], "setting \(field)")
            #expect(copy != original, "setting \(field)")
            #expect(try Self.json(original) == before, "the original after setting \(field) on a copy")
        }
    }

    @Test func equalFieldsAreEqualAndHashAlikeWhereverTheyWereMade() throws {
        let one = Self.full()
        let other = Self.full()
        #expect(one == other)
        #expect(one.hashValue == other.hashValue)
        var changed = other
        changed.lastFailure = "BadDeviceToken"
        #expect(changed != one)
        changed.lastFailure = one.lastFailure
        #expect(changed == one && changed.hashValue == one.hashValue)
        #expect(Set([one, other, changed]).count == 1)
    }

    /// Encoded as the fields by name, as stored exports and API answers have always had it, and decoded back.
    @Test func encodesEachFieldUnderItsNameAndDecodesBack() throws {
        let registration = Self.full()
        let encoder = JSONEncoder()
        let decoded = try JSONDecoder().decode(Registration.self, from: encoder.encode(registration))
        #expect(decoded == registration)
        #expect(
            Set(try Self.json(registration).keys) == [
                "node", "secret", "app", "service", "dialect", "token", "voipToken", "webPushKeys", "environment",
                "accountDomain", "accountKey", "pushAccount", "channel", "deviceKey", "createdAt", "updatedAt",
                "lastPushAt", "lastFailure",
            ]
        )
        var sparse = registration
        sparse.secret = nil
        sparse.webPushKeys = nil
        sparse.lastPushAt = nil
        sparse.lastFailure = nil
        #expect(try JSONDecoder().decode(Registration.self, from: encoder.encode(sparse)) == sparse)
    }

    @Test func updatedAtDefaultsToCreatedAt() {
        let registration = Registration(node: "n", secret: nil, app: "chat", service: .fcm, dialect: .p2, token: "t", deviceKey: "d", createdAt: Self.created)
        #expect(registration.updatedAt == Self.created)
        #expect(registration.lastPushAt == nil && registration.lastFailure == nil)
    }
}
