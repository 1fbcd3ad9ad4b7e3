import Foundation
import HeraldTesting
import Testing

@testable import HeraldCore

private let chat = App(name: "chat", services: [.apns, .fcm, .webpush], tigaseProviders: App.defaultTigaseProviders(for: [.apns, .fcm]))

private func request(
    account: String = "romeo@example.org",
    device: String = "device-1",
    token: String = "token-1",
    service: PushVendor = .fcm,
    dialect: RegistrationDialect = .p2,
    muc: String? = nil,
    node: String? = nil,
    secret: Bool = true
) -> RegistrationRequest {
    RegistrationRequest(
        app: chat, service: service, dialect: dialect, token: token,
        account: account, accountDomain: String(account.split(separator: "@").last!),
        deviceID: device, muc: muc, requestedNode: node, issueSecret: secret
    )
}

@Suite struct RegistrationServiceTests {
    let clock = ManualClock()
    let store = InMemoryRegistrationStore()

    func service(_ policy: RegistrationPolicy = .init()) -> RegistrationService {
        RegistrationService(store: store, policy: policy, clock: clock)
    }

    @Test func newRegistrationGetsAnUnguessableNodeAndA144BitSecret() async throws {
        let registration = try await service().register(request())
        #expect(registration.node.count == 24, "8 characters of time, 16 of randomness")
        #expect(registration.secret?.count == 24)
        #expect(registration.accountDomain == "example.org")
        #expect(try await store.registration(node: registration.node) == registration)
        let other = try await service().register(request(device: "device-2"))
        #expect(other.node != registration.node)
        #expect(other.secret != registration.secret)
    }

    @Test func reRegisteringTheSameDeviceKeepsNodeAndSecretAndUpdatesTheToken() async throws {
        let first = try await service().register(request(token: "old"))
        clock.advance(by: .seconds(30))
        let second = try await service().register(request(token: "new", service: .apns))
        #expect(second.node == first.node)
        #expect(second.secret == first.secret)
        #expect(second.token == "new")
        #expect(second.service == .apns)
        #expect(second.updatedAt > first.updatedAt)
        #expect(try await store.count() == 1)
    }

    @Test func randomStringsDoNotRepeat() {
        #expect(Set((0..<1000).map { _ in RegistrationService.randomString(bytes: 18) }).count == 1000)
        #expect(RegistrationService.randomString(bytes: 18).count == 24)
    }

    @Test func nodesSortInTheOrderTheyWereMintedAndStayUnguessable() {
        #expect(RegistrationService.sortableDigits == RegistrationService.sortableDigits.sorted())
        #expect(Set(RegistrationService.sortableDigits).count == 64)
        // Milliseconds apart, and across a change of every digit position's carry.
        let times: [Double] = [0, 0.001, 0.064, 4.095, 1_790_000_000, 1_790_000_000.001, 1_790_000_001, 4_102_444_800, 4_398_046_512]
        let nodes = times.map { RegistrationService.node(at: Date(timeIntervalSince1970: $0)) }
        #expect(nodes == nodes.sorted())
        #expect(nodes.allSatisfy { $0.utf8.count == 24 })
        #expect(nodes.allSatisfy { !$0.hasPrefix("-") }, "a node pasted into a command line is not an option")
        #expect(Set(nodes.map { $0.prefix(8) }).count == times.count)
        let sameMillisecond = (0..<1000).map { _ in RegistrationService.node(at: Date(timeIntervalSince1970: 1_790_000_000)) }
        #expect(Set(sameMillisecond).count == 1000, "the random part tells nodes of one millisecond apart")
        #expect(Set(sameMillisecond.map { $0.prefix(8) }).count == 1)
    }

    @Test func theAccountJIDIsNotStoredForP2() async throws {
        let registration = try await service().register(request())
        let stored = "\(registration)"
        #expect(!stored.contains("romeo@example.org"))
        // p2's account hash, which Conversations computes itself. Computed independently:
        // python3 -c "import hashlib;print(hashlib.sha1(b'romeo@example.org\x00device-1').hexdigest())"
        #expect(registration.pushAccount == "c773892af3806b9a0496456ba00664b1b5a08116")
    }

    @Test func siskinRegistrationsCarryTheBareJIDAndNoSecret() async throws {
        let registration = try await service().register(request(dialect: .tigase, secret: false))
        #expect(registration.pushAccount == "romeo@example.org")
        #expect(registration.secret == nil)
    }

    @Test func groupChatRegistrationsAreSeparateDevices() async throws {
        let plain = try await service().register(request())
        let room = try await service().register(request(muc: "room@conference.example.org"))
        #expect(plain.node != room.node)
        #expect(room.channel?.count == 40)
        #expect(plain.channel == nil)
    }

    @Test func clientChosenNodeIsHonouredButCannotBeTakenOver() async throws {
        let mine = try await service().register(request(dialect: .v1, node: "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E"))
        #expect(mine.node == "E0FF1D8C-EB96-4E10-A912-F68B03FD8D3E")
        await #expect(throws: RegistrationError.nodeTaken) {
            try await service().register(request(account: "mallory@evil.example", device: "x", dialect: .v1, node: mine.node))
        }
        #expect(try await store.registration(node: mine.node)?.token == "token-1")
    }

    @Test func perAccountDeviceLimit() async throws {
        let limited = service(RegistrationPolicy(maximumDevicesPerAccount: 2))
        _ = try await limited.register(request(device: "a"))
        _ = try await limited.register(request(device: "b"))
        await #expect(throws: RegistrationError.tooManyDevices(limit: 2)) {
            try await limited.register(request(device: "c"))
        }
        // Re-registering an existing device is still allowed, and other accounts are unaffected.
        _ = try await limited.register(request(device: "a", token: "fresh"))
        _ = try await limited.register(request(account: "juliet@example.org", device: "c"))
    }

    @Test func registrationRateLimitPerAccountWithAnInjectedClock() async throws {
        let limited = service(RegistrationPolicy(maximumRegistrationsPerWindow: 3, rateWindow: .seconds(60)))
        for _ in 0..<3 { _ = try await limited.register(request()) }
        await #expect(throws: RegistrationError.rateLimited) { try await limited.register(request()) }
        _ = try await limited.register(request(account: "juliet@example.org"))
        clock.advance(by: .seconds(61))
        _ = try await limited.register(request())
    }

    @Test func perDomainAndTotalLimits() async throws {
        let limited = service(RegistrationPolicy(maximumRegistrationsPerDomain: 2, maximumRegistrations: 3))
        _ = try await limited.register(request(account: "a@big.example"))
        _ = try await limited.register(request(account: "b@big.example"))
        await #expect(throws: RegistrationError.domainLimitReached(limit: 2)) {
            try await limited.register(request(account: "c@big.example"))
        }
        _ = try await limited.register(request(account: "a@small.example"))
        await #expect(throws: RegistrationError.totalLimitReached(limit: 3)) {
            try await limited.register(request(account: "b@small.example"))
        }
        // A device already registered is updated, whatever the counts.
        _ = try await limited.register(request(account: "a@big.example", token: "fresh"))
        #expect(try await store.count() == 3)
    }

    @Test func onlyListedDomainsMayRegisterWhenAListIsGiven() async throws {
        let listed = service(RegistrationPolicy(allowedDomains: ["example.org"]))
        _ = try await listed.register(request(account: "romeo@example.org"))
        _ = try await listed.register(request(account: "romeo@EXAMPLE.org", device: "2"))
        await #expect(throws: RegistrationError.domainNotAllowed) {
            try await listed.register(request(account: "eve@elsewhere.example"))
        }
        _ = try await service().register(request(account: "eve@elsewhere.example"))
    }

    @Test func unconfiguredServiceIsRefused() async {
        let fcmOnly = App(name: "android", services: [.fcm])
        var apnsRequest = request(service: .apns)
        apnsRequest.app = fcmOnly
        await #expect(throws: RegistrationError.serviceNotConfigured(.apns)) { try await service().register(apnsRequest) }
    }

    @Test func unregisterByDeviceAndByNode() async throws {
        let byDevice = try await service().register(request(device: "d1"))
        let byNode = try await service().register(request(device: "d2", dialect: .v1))
        try await service().unregister(app: chat, dialect: .p2, account: "romeo@example.org", deviceID: "d1")
        #expect(try await store.registration(node: byDevice.node) == nil)
        await #expect(throws: RegistrationError.notFound) {
            try await service().unregister(app: chat, node: byNode.node, account: "mallory@evil.example")
        }
        try await service().unregister(app: chat, node: byNode.node, account: "romeo@example.org")
        #expect(try await store.count() == 0)
        await #expect(throws: RegistrationError.notFound) {
            try await service().unregister(app: chat, dialect: .p2, account: "romeo@example.org", deviceID: "d1")
        }
    }

    @Test func apnsRegistrationsGetTheAppsDefaultEnvironment() async throws {
        let registration = try await service().register(request(service: .apns))
        #expect(registration.environment == .production)
        var sandbox = request(device: "dev", service: .apns)
        sandbox.environment = .sandbox
        #expect(try await service().register(sandbox).environment == .sandbox)
        #expect(try await service().register(request(device: "android")).environment == nil)
    }
}
