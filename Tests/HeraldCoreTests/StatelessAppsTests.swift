import Foundation
import Testing

@testable import HeraldCore

@Suite struct StatelessAppsTests {
    static let token = String(repeating: "ab01", count: 16)
    static let apps = StatelessApps(
        modules: [
            "monalProdiOS": .init(app: "monal", environment: .production, minimumInterval: .seconds(20)),
            "monalAlpha": .init(app: "alpha", environment: .sandbox, components: ["push.alpha.example"]),
        ],
        fallback: .init(app: "monal")
    )

    private func publish(node: String = token, module: String?, component: String = "push.example.com", from domain: String = "example.org") -> Publish {
        Publish(node: node, publisherDomain: domain, component: component, pushModule: module)
    }

    @Test func aPushModuleSelectsItsAppAndTheNodeIsTheToken() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let (registration, interval) = try #require(Self.apps.registration(for: publish(module: "monalProdiOS"), now: now))
        #expect(registration.app == "monal")
        #expect(registration.service == .apns)
        #expect(registration.dialect == .stateless)
        #expect(registration.token == Self.token)
        #expect(registration.node == Self.token)
        #expect(registration.secret == nil)
        #expect(registration.environment == .production)
        #expect(registration.accountDomain == "example.org", "only the publishing server itself may publish")
        #expect(interval == .seconds(20))
    }

    @Test func anUpperCaseTokenIsSentInLowerCase() throws {
        let (registration, _) = try #require(Self.apps.registration(for: publish(node: Self.token.uppercased(), module: "monalProdiOS"), now: Date()))
        #expect(registration.token == Self.token)
        #expect(registration.node == Self.token.uppercased(), "the node stays what the server publishes to")
    }

    @Test func withoutAPushModuleTheDefaultAppTakesIt() throws {
        let (registration, interval) = try #require(Self.apps.registration(for: publish(module: nil), now: Date()))
        #expect(registration.app == "monal")
        #expect(interval == .seconds(10))
        let noDefault = StatelessApps(modules: Self.apps.modules)
        #expect(noDefault.registration(for: publish(module: nil), now: Date()) == nil)
    }

    @Test func anUnknownPushModuleIsNoApp() {
        #expect(Self.apps.registration(for: publish(module: "someoneElse"), now: Date()) == nil)
        #expect(StatelessApps.none.registration(for: publish(module: "monalProdiOS"), now: Date()) == nil)
    }

    @Test func anAppLimitedToComponentsAnswersOnlyThere() throws {
        #expect(Self.apps.registration(for: publish(module: "monalAlpha"), now: Date()) == nil)
        let (registration, _) = try #require(Self.apps.registration(for: publish(module: "monalAlpha", component: "push.alpha.example"), now: Date()))
        #expect(registration.app == "alpha")
        #expect(registration.environment == .sandbox)
    }

    /// fpush's bounds: 64 to 512 hex characters; anything else is a node nobody registered.
    @Test(arguments: [
        String(repeating: "a", count: 63), String(repeating: "a", count: 513), "", "eKxTS5n3bOe0",
        String(repeating: "g", count: 64), String(repeating: "a", count: 62) + " a", String(repeating: "é", count: 32),
    ])
    func aNodeThatIsNoAPNsTokenIsNoStatelessNode(node: String) {
        #expect(Self.apps.registration(for: publish(node: node, module: "monalProdiOS"), now: Date()) == nil)
    }

    @Test(arguments: [64, 100, 512])
    func tokensOfEveryLengthFpushAcceptsAreTaken(length: Int) {
        let node = String(String(repeating: "0123456789abcdef", count: 33).prefix(length))
        #expect(Self.apps.registration(for: publish(node: node, module: "monalProdiOS"), now: Date()) != nil)
    }
}
