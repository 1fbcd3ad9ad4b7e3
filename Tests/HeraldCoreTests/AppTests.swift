import Foundation
import HeraldTesting
import Testing

@testable import HeraldCore

@Suite struct AppTests {
    @Test func selectsByNameDefaultAndTigaseProvider() throws {
        let ios = App(name: "ios", services: [.apns], tigaseProviders: App.defaultTigaseProviders(for: [.apns]))
        let android = App(name: "android", services: [.fcm], tigaseProviders: App.defaultTigaseProviders(for: [.fcm]))
        let directory = AppDirectory(apps: [ios, android], defaultApp: "android")
        #expect(directory.select(nil)?.name == "android")
        #expect(directory.select("ios")?.name == "ios")
        #expect(directory.select("nope") == nil)
        #expect(directory.app(forTigaseProvider: "tigase:messenger:apns:1")?.0.name == "ios")
        #expect(directory.app(forTigaseProvider: "tigase:messenger:apns:1")?.1 == .apns)
        #expect(directory.app(forTigaseProvider: "unknown") == nil)
        #expect(directory.tigaseProviders == ["tigase:messenger:apns:1", "tigase:messenger:fcm:1"])
    }
}
