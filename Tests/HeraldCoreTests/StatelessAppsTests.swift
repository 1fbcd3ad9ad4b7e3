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

    // MARK: MongooseIM

    static let mongooseIM = StatelessApps(mongooseIM: [
        .init(app: "chat", services: [.apns, .fcm], apnsTopic: "org.example.chat"),
        .init(app: "work", minimumInterval: .seconds(30), services: [.apns], apnsTopic: "org.example.work"),
    ])

    private func mongooseIMPublish(_ device: Publish.Device, node: String = "client-node") -> Publish {
        Publish(node: node, publisherDomain: "mim.example", component: "push.example.com", device: device)
    }

    @Test func theTopicPicksTheAppAndTheDeviceIDIsTheToken() throws {
        let device = Publish.Device(token: Self.token.uppercased(), service: "apns", topic: "org.example.work")
        let (registration, interval) = try #require(Self.mongooseIM.registration(for: mongooseIMPublish(device), now: Date()))
        #expect(registration.app == "work")
        #expect(registration.token == Self.token)
        #expect(registration.node == "client-node", "the node is the client's own")
        #expect(registration.accountDomain == "mim.example")
        #expect(interval == .seconds(30))
    }

    @Test func anFCMDeviceGoesToTheAppWithFCM() throws {
        let device = Publish.Device(token: "fcm:token-with_all-sorts.of:characters", service: "fcm", topic: "org.example.chat")
        let (registration, _) = try #require(Self.mongooseIM.registration(for: mongooseIMPublish(device), now: Date()))
        #expect(registration.service == .fcm)
        #expect(registration.token == "fcm:token-with_all-sorts.of:characters")
        #expect(registration.environment == nil)
    }

    @Test(arguments: [
        Publish.Device(token: "t", service: "fcm", topic: "org.example.work"),  // no FCM in that app
        Publish.Device(token: String(repeating: "ab", count: 32), service: "apns"),  // two apps, no topic
        Publish.Device(token: String(repeating: "ab", count: 32), service: "apns", topic: "org.example.other"),
        Publish.Device(token: "not hex", service: "apns", topic: "org.example.chat"),
        Publish.Device(token: "with space", service: "fcm", topic: "org.example.chat"),
        Publish.Device(token: String(repeating: "a", count: 4097), service: "fcm", topic: "org.example.chat"),
        Publish.Device(token: "t", service: "webpush", topic: "org.example.chat"),
        Publish.Device(token: "t", service: "hms", topic: "org.example.chat"),
    ])
    func aDeviceNoAppCanServeIsNoNode(device: Publish.Device) {
        #expect(Self.mongooseIM.registration(for: mongooseIMPublish(device), now: Date()) == nil)
    }

    @Test func withOneMongooseIMAppNoTopicIsNeeded() throws {
        let one = StatelessApps(mongooseIM: [.init(app: "chat", services: [.fcm])])
        let (registration, _) = try #require(one.registration(for: mongooseIMPublish(.init(token: "t", service: "fcm")), now: Date()))
        #expect(registration.app == "chat")
        #expect(Self.apps.registration(for: mongooseIMPublish(.init(token: Self.token, service: "apns")), now: Date()) == nil, "fpush apps take no MongooseIM publish")
    }

    @Test(arguments: [64, 100, 512])
    func tokensOfEveryLengthFpushAcceptsAreTaken(length: Int) {
        let node = String(String(repeating: "0123456789abcdef", count: 33).prefix(length))
        #expect(Self.apps.registration(for: publish(node: node, module: "monalProdiOS"), now: Date()) != nil)
    }
}
