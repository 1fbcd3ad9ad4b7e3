import Foundation
import HeraldSupport
import HeraldTesting
import Logging
import Synchronization
import Testing

@testable import HeraldCore

private func registration(_ node: String = "node-1", secret: String? = "s3cret", domain: String? = "example.org", voip: String? = nil) -> Registration {
    Registration(
        node: node, secret: secret, app: "chat", service: .apns, dialect: .p2, token: "token-\(node)",
        voipToken: voip, environment: .production, accountDomain: domain, accountKey: "acct", deviceKey: "dev-\(node)",
        createdAt: Date(timeIntervalSince1970: 0)
    )
}

private func publish(
    _ node: String = "node-1", secret: String? = "s3cret", from domain: String = "example.org", byServer: Bool = true, body: String? = nil
) -> Publish {
    Publish(
        node: node, publisherDomain: domain, publisherIsServer: byServer, secret: secret,
        summary: Publish.Summary(messageCount: 1, lastMessageBody: body)
    )
}

private struct Fixture {
    let clock = ManualClock()
    let provider = RecordingProvider()
    let store = InMemoryRegistrationStore([registration(), registration("node-2")])
    let dispatcher: PushDispatcher<ManualClock>

    init(policy: DeliveryPolicy = DeliveryPolicy(
        coalescingWindow: .seconds(2),
        retryBackoff: Backoff(initialDelay: .seconds(1), maximumDelay: .seconds(8)),
        maximumAttempts: 4,
        retryDeadline: .seconds(30),
        maximumQueuedPushes: 100
    ), stateless: StatelessApps = .none) {
        let clock = clock
        dispatcher = PushDispatcher(
            store: store, providers: .shared(provider, apps: ["chat", "monal"], services: [.apns]), stateless: stateless, policy: policy,
            clock: clock, activityFlushInterval: nil, logger: Logger(label: "test")
        )
    }

    /// The wall-clock time at the manual clock's start: stored pending pushes carry dates.
    static let epoch = Date(timeIntervalSince1970: 1_790_000_000)
    var wallNow: Date { clock.wallTime }

    /// Runs the dispatcher's timer loop around `body`.
    func running(_ body: () async throws -> Void) async throws {
        try await whileRunning({ try await dispatcher.run() }, body)
    }
}

@Suite(.timeLimit(.minutes(1))) struct PushDispatcherTests {
    @Test func deliversAnAuthenticatedPublish() async {
        let fixture = Fixture()
        #expect(await fixture.dispatcher.publish(publish()) == .delivered)
        #expect(fixture.provider.pushes.count == 1)
        #expect(fixture.provider.pushes.first?.registration.token == "token-node-1")
    }

    @Test func aStaleCachedSecretIsCheckedAgainstTheStoreBeforeAPublishIsRefused() async throws {
        let fixture = Fixture()
        var stale = try #require(try await fixture.store.registration(node: "node-1"))
        stale.secret = "the-secret-before-re-registering"
        stale.token = "stale-token"
        fixture.store.staleForDelivery.withLock { $0["node-1"] = stale }
        #expect(await fixture.dispatcher.publish(publish()) == .delivered, "the store's own copy has the publish's secret")
        #expect(fixture.provider.pushes.map(\.registration.token) == ["token-node-1"], "and the push goes with the store's copy")

        // A refusal is decided on the store's copy: here the store no longer has the node at all.
        var gone = try #require(try await fixture.store.registration(node: "node-2"))
        gone.secret = "another-secret"
        fixture.store.staleForDelivery.withLock { $0["node-2"] = gone }
        #expect(try await fixture.store.delete(node: "node-2"))
        #expect(await fixture.dispatcher.publish(publish("node-2")) == .unknownNode, "the store decides, not the cache")
        #expect(fixture.provider.pushes.count == 1)
    }

    @Test func unknownNode() async {
        #expect(await Fixture().dispatcher.publish(publish("nope")) == .unknownNode)
    }

    @Test(arguments: [("wrong", "example.org"), ("s3cre", "example.org"), ("s3cret", "evil.example")])
    func wrongSecretOrPublisherIsForbidden(secret: String, domain: String) async {
        let fixture = Fixture()
        #expect(await fixture.dispatcher.publish(publish(secret: secret, from: domain)) == .forbidden)
        #expect(fixture.provider.pushes.isEmpty)
    }

    @Test func missingSecretIsForbidden() async {
        #expect(await Fixture().dispatcher.publish(publish(secret: nil)) == .forbidden)
    }

    @Test func registrationWithoutSecretIsGuardedByItsDomain() async throws {
        let fixture = Fixture()
        try await fixture.store.save(registration("siskin", secret: nil))
        #expect(await fixture.dispatcher.publish(publish("siskin", secret: nil)) == .delivered)
        #expect(await fixture.dispatcher.publish(publish("siskin", secret: nil, from: "evil.example")) == .forbidden)
        // A user of the same server (mallory@example.org) has its domain but is not the server.
        #expect(await fixture.dispatcher.publish(publish("siskin", secret: nil, byServer: false)) == .forbidden)
        #expect(fixture.provider.pushes.count == 1)
    }

    @Test func aGroupChatRegistrationIsPublishedToByTheAccountsServerAsP2Has() async throws {
        // p2 keeps the registering account's domain for a `muc` registration and accepts publishes
        // from that domain (with the secret) only; the MUC service's own domain is not it.
        let fixture = Fixture()
        let chat = App(name: "chat", services: [.apns])
        let registration = try await RegistrationService(store: fixture.store).register(RegistrationRequest(
            app: chat, service: .apns, dialect: .p2, token: "muc-token", account: "romeo@example.org", accountDomain: "example.org",
            deviceID: "d1", muc: "room@conference.example.org"
        ))
        let secret = registration.secret
        #expect(await fixture.dispatcher.publish(Publish(node: registration.node, publisherDomain: "conference.example.org", secret: secret)) == .forbidden)
        #expect(await fixture.dispatcher.publish(Publish(node: registration.node, publisherDomain: "example.org", secret: secret)) == .delivered)
    }

    @Test func pushClassFollowsImportance() async throws {
        let fixture = Fixture()
        _ = await fixture.dispatcher.publish(publish(body: "New message"))
        _ = await fixture.dispatcher.publish(publish("node-2"))
        #expect(fixture.provider.pushes.map(\.pushClass) == [.alert, .background])
    }

    @Test func aBurstBecomesTwoPushesAndEachPublishHearsTheVerdictOnItsOwn() async throws {
        let fixture = Fixture()
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish()) == .delivered)
            let burst = HeldReplies(fixture.dispatcher, publish(body: "more"), count: 5)
            #expect(await eventually { fixture.dispatcher.heldReplies == 5 })
            #expect(fixture.provider.pushes.count == 1)
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await burst.outcomes() == Array(repeating: .delivered, count: 5))
            #expect(fixture.provider.pushes.count == 2)
            // The trailing push carries the most important class seen in the burst.
            #expect(fixture.provider.pushes.last?.pushClass == .alert)
            #expect(fixture.dispatcher.heldReplies == 0)
        }
    }

    @Test func aBurstWhoseTokenDiesInBetweenHearsItemNotFound() async throws {
        let fixture = Fixture()
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish()) == .delivered)
            fixture.provider.answer(.deadToken(reason: "Unregistered"))
            let second = HeldReplies(fixture.dispatcher, publish(body: "more"), count: 1)
            #expect(await eventually { fixture.dispatcher.heldReplies == 1 && fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await second.outcomes() == [.tokenRemoved(reason: "Unregistered")])
            let removed = try await fixture.store.registration(node: "node-1")
            #expect(removed == nil)
        }
    }

    @Test func duringAnOutageEveryPublishHearsWaitAndTheNewestGoesOnceTheVendorIsBack() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil))
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish(body: "one")) == .retrying(reason: "ServiceUnavailable"))
            fixture.clock.advance(by: .milliseconds(300))
            #expect(await fixture.dispatcher.publish(publish(body: "two")) == .retrying(reason: "ServiceUnavailable"))
            #expect(fixture.provider.pushes.count == 1, "the second publish rides on the queued retry")
            let queued = try await fixture.store.pendingPushes(limit: 10)
            #expect(queued.map(\.publish.summary?.lastMessageBody) == ["two"])
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { fixture.provider.pushes.count == 2 })
            #expect(fixture.provider.pushes.last?.publish.summary?.lastMessageBody == "two")
            #expect(await eventually { (try? await fixture.store.pendingPushes(limit: 10).isEmpty) == true })
        }
    }

    @Test func aStoredRetryResumesInTheNextDispatcherOnSchedule() async throws {
        let fixture = Fixture()
        let wallNow = fixture.wallNow
        let waiting = PendingPush(
            node: "node-1", publish: publish(body: "kept"), pushClass: .alert, attempt: 1,
            notBefore: wallNow.addingTimeInterval(10), deadline: wallNow.addingTimeInterval(60)
        )
        try await fixture.store.savePending(waiting, owner: "an instance that died", leaseUntil: wallNow.addingTimeInterval(-1))
        #expect(try await fixture.store.pendingPushes(limit: 10).first?.publish.secret == nil, "secrets are not kept")
        try await fixture.running {
            #expect(await eventually { fixture.dispatcher.queuedPushes == 1 && fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(9))
            try await Task.sleep(for: .milliseconds(30))
            #expect(fixture.provider.pushes.isEmpty, "not before it was due")
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { fixture.provider.pushes.count == 1 })
            #expect(fixture.provider.pushes.first?.publish.summary?.lastMessageBody == "kept")
            #expect(await eventually { (try? await fixture.store.pendingPushes(limit: 10).isEmpty) == true })
        }
    }

    @Test func stoppingKeepsTheEndOfABurstForTheNextStartAndSaysSo() async throws {
        let fixture = Fixture()
        let held = Mutex<HeldReplies?>(nil)
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish()) == .delivered)
            held.withLock { $0 = HeldReplies(fixture.dispatcher, publish(body: "last"), count: 1) }
            #expect(await eventually { fixture.dispatcher.heldReplies == 1 })
        }
        #expect(await held.withLock { $0 }?.outcomes() == [.retrying(reason: "Herald restarting")])
        let stored = try await fixture.store.pendingPushes(limit: 10)
        #expect(stored.map(\.attempt) == [0])
        #expect(stored.first?.publish.summary?.lastMessageBody == "last")
        #expect(fixture.provider.pushes.count == 1, "not sent early")
    }

    @Test func otherNodesAreNotCoalesced() async {
        let fixture = Fixture()
        #expect(await fixture.dispatcher.publish(publish()) == .delivered)
        #expect(await fixture.dispatcher.publish(publish("node-2")) == .delivered)
    }

    @Test func afterTheWindowPushesGoOutAtOnceAgain() async throws {
        let fixture = Fixture()
        #expect(await fixture.dispatcher.publish(publish()) == .delivered)
        fixture.clock.advance(by: .seconds(3))
        #expect(await fixture.dispatcher.publish(publish()) == .delivered)
    }

    @Test func aPushTheVendorMayHaveTakenIsNotSentAgain() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.unconfirmed(reason: "timedOut"))
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish()) == .unconfirmed(reason: "timedOut"))
            #expect(fixture.dispatcher.queuedPushes == 0, "nothing queued: a second copy could show twice")
            fixture.clock.advance(by: .seconds(600))
            try await Task.sleep(for: .milliseconds(50))
            #expect(fixture.provider.pushes.count == 1)
        }
    }

    @Test func transientFailureIsRetriedWithBackoff() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil), .retry(reason: "ServiceUnavailable", retryAfter: nil))
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(publish()) == .retrying(reason: "ServiceUnavailable"))
            #expect(fixture.dispatcher.queuedPushes == 1)
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            // First retry between 0.5 s and 1 s (jitter), second between 1 s and 2 s after that.
            fixture.clock.advance(by: .milliseconds(400))
            try await Task.sleep(for: .milliseconds(30))
            #expect(fixture.provider.pushes.count == 1)
            fixture.clock.advance(by: .milliseconds(600))
            #expect(await eventually { fixture.provider.pushes.count == 2 })
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { fixture.provider.pushes.count == 3 })
            #expect(await eventually { fixture.dispatcher.queuedPushes == 0 })
        }
    }

    @Test func retryAfterFromTheVendorIsHonoured() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "TooManyRequests", retryAfter: .seconds(10)))
        try await fixture.running {
            _ = await fixture.dispatcher.publish(publish())
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(9))
            try await Task.sleep(for: .milliseconds(30))
            #expect(fixture.provider.pushes.count == 1)
            fixture.clock.advance(by: .seconds(1))
            #expect(await eventually { fixture.provider.pushes.count == 2 })
        }
    }

    @Test func aNewerPublishUpdatesAQueuedRetryInsteadOfGoingAtOnce() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "InternalServerError", retryAfter: .seconds(20)))
        _ = await fixture.dispatcher.publish(publish())
        #expect(fixture.dispatcher.queuedPushes == 1)
        fixture.clock.advance(by: .seconds(3))
        #expect(await fixture.dispatcher.publish(publish(body: "newer")) == .retrying(reason: "InternalServerError"))
        #expect(fixture.dispatcher.queuedPushes == 1)
        #expect(fixture.provider.pushes.count == 1)
        #expect(try await fixture.store.pendingPushes(limit: 10).first?.publish.summary?.lastMessageBody == "newer")
    }

    @Test func retriesStopAtTheAttemptLimit() async throws {
        let fixture = Fixture()
        for _ in 0..<10 { fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil)) }
        try await fixture.running {
            _ = await fixture.dispatcher.publish(publish())
            // Each retry is awaited before time moves on, so the test holds under any load.
            for attempt in 2...4 {
                #expect(await eventually { fixture.clock.sleeperCount > 0 })
                fixture.clock.advance(by: .seconds(10))
                #expect(await eventually { fixture.provider.pushes.count == attempt })
            }
            #expect(await eventually { fixture.dispatcher.queuedPushes == 0 })
            fixture.clock.advance(by: .seconds(60))
            try await Task.sleep(for: .milliseconds(50))
            #expect(fixture.provider.pushes.count == 4)
        }
    }

    @Test func deadTokenRemovesTheRegistration() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        #expect(await fixture.dispatcher.publish(publish()) == .tokenRemoved(reason: "Unregistered"))
        #expect(try await fixture.store.registration(node: "node-1") == nil)
        #expect(await fixture.dispatcher.publish(publish()) == .unknownNode)
    }

    @Test func aDeadVoIPTokenIsForgottenAndTheCallGoesOutAsAnAlert() async throws {
        let fixture = Fixture()
        try await fixture.store.save(registration("phone", voip: "pushkit-token"))
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        let call = Publish(
            node: "phone", publisherDomain: "example.org", secret: "s3cret",
            encrypted: .init(payload: "x", iv: "y", type: "voip"), highPriority: true
        )
        #expect(await fixture.dispatcher.publish(call) == .delivered)
        #expect(fixture.provider.pushes.map(\.pushClass) == [.voip, .alert])
        let kept = try #require(try await fixture.store.registration(node: "phone"))
        #expect(kept.voipToken == nil)
        #expect(kept.token == "token-phone")
        // Past the burst window, the next message goes out as an alert to the device token.
        fixture.clock.advance(by: .seconds(3))
        #expect(await fixture.dispatcher.publish(publish("phone", body: "hi")) == .delivered)
        #expect(fixture.provider.pushes.last?.pushClass == .alert)
    }

    @Test func aDeadDeviceTokenAfterTheVoIPTokenRemovesTheRegistration() async throws {
        let fixture = Fixture()
        try await fixture.store.save(registration("phone", voip: "pushkit-token"))
        fixture.provider.answer(.deadToken(reason: "Unregistered"), .deadToken(reason: "BadDeviceToken"))
        let call = Publish(node: "phone", publisherDomain: "example.org", secret: "s3cret", encrypted: .init(payload: "x", iv: "y", type: "call"))
        #expect(await fixture.dispatcher.publish(call) == .tokenRemoved(reason: "BadDeviceToken"))
        #expect(try await fixture.store.registration(node: "phone") == nil)
    }

    @Test func theEnvironmentThatAcceptedATokenIsRemembered() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.delivered(id: "a", environment: .sandbox))
        #expect(await fixture.dispatcher.publish(publish()) == .delivered)
        #expect(try await fixture.store.registration(node: "node-1")?.environment == .sandbox)
        #expect(try await fixture.store.registration(node: "node-1")?.token == "token-node-1")
    }

    @Test func lastPushAndLastFailureAreWrittenInBatchesOffTheHotPath() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil))
        _ = await fixture.dispatcher.publish(publish())
        #expect(await fixture.dispatcher.publish(publish("node-2")) == .delivered)
        #expect(try await fixture.store.registration(node: "node-2")?.lastPushAt == nil, "not written while answering")
        await fixture.dispatcher.flushActivity()
        let failed = try #require(try await fixture.store.registration(node: "node-1"))
        #expect(failed.lastFailure == "ServiceUnavailable")
        #expect(failed.lastPushAt == nil)
        let delivered = try #require(try await fixture.store.registration(node: "node-2"))
        #expect(delivered.lastPushAt == fixture.wallNow)
        #expect(delivered.lastFailure == nil)
    }

    /// A success is not written again while the stored one is recent and no failure is stored; a
    /// failure always is, and a success after one.
    @Test func aRecentSuccessIsNotWrittenAgainButAFailureAlwaysIs() async throws {
        let fixture = Fixture()
        var recent = registration("recent")
        recent.lastPushAt = fixture.wallNow.addingTimeInterval(-60)
        var failing = registration("failing")
        failing.lastPushAt = fixture.wallNow.addingTimeInterval(-60)
        failing.lastFailure = "ServiceUnavailable"
        var old = registration("old")
        old.lastPushAt = fixture.wallNow.addingTimeInterval(-3_600)
        for registration in [recent, failing, old] { try await fixture.store.save(registration) }
        for node in ["recent", "failing", "old"] { #expect(await fixture.dispatcher.publish(publish(node)) == .delivered) }
        await fixture.dispatcher.flushActivity()
        #expect(try await fixture.store.registration(node: "recent")?.lastPushAt == recent.lastPushAt, "a minute ago is recent enough")
        let cleared = try #require(try await fixture.store.registration(node: "failing"))
        #expect(cleared.lastFailure == nil && cleared.lastPushAt == fixture.wallNow, "the stored failure is cleared")
        #expect(try await fixture.store.registration(node: "old")?.lastPushAt == fixture.wallNow)
        // A failure noted, then a success that would be skipped: the failure must not be what is written.
        fixture.provider.answer(.rejected(reason: "BadTopic"))
        fixture.clock.advance(by: .seconds(3))
        #expect(await fixture.dispatcher.publish(publish("recent")) == .failed(reason: "BadTopic"))
        fixture.clock.advance(by: .seconds(3))
        #expect(await fixture.dispatcher.publish(publish("recent")) == .delivered)
        await fixture.dispatcher.flushActivity()
        #expect(try await fixture.store.registration(node: "recent")?.lastFailure == nil)
    }

    @Test func credentialProblemsAreOurFault() async {
        let fixture = Fixture()
        fixture.provider.answer(.credentials(reason: "InvalidProviderToken"))
        #expect(await fixture.dispatcher.publish(publish()) == .failed(reason: "InvalidProviderToken"))
    }

    @Test func fullQueueAnswersOverloaded() async throws {
        let fixture = Fixture(policy: DeliveryPolicy(coalescingWindow: .seconds(2), maximumQueuedPushes: 1))
        try await fixture.running {
            _ = await fixture.dispatcher.publish(publish())
            _ = await fixture.dispatcher.publish(publish("node-2"))
            let held = HeldReplies(fixture.dispatcher, publish(), count: 1)
            #expect(await eventually { fixture.dispatcher.queuedPushes == 1 && fixture.clock.sleeperCount > 0 })
            #expect(await fixture.dispatcher.publish(publish("node-2")) == .overloaded)
            fixture.clock.advance(by: .seconds(2))
            #expect(await held.outcomes() == [.delivered])
        }
    }

    // MARK: Stateless nodes (Monal's fpush dialect)

    static let statelessToken = String(repeating: "c0ffee00", count: 8)
    static let monal = StatelessApps(modules: ["monalProdiOS": .init(app: "monal", minimumInterval: .seconds(20))])

    static func statelessPublish(body: String? = nil, module: String? = "monalProdiOS", byServer: Bool = true) -> Publish {
        Publish(
            node: Self.statelessToken, publisherDomain: "example.org", publisherIsServer: byServer,
            summary: Publish.Summary(messageCount: 1, lastMessageBody: body), component: "push.example.com", pushModule: module
        )
    }

    @Test func aStatelessPublishGoesToTheTokenItsNodeIs() async throws {
        let fixture = Fixture(stateless: Self.monal)
        #expect(await fixture.dispatcher.publish(Self.statelessPublish(body: "hi")) == .delivered)
        let push = try #require(fixture.provider.pushes.first)
        #expect(push.registration.token == Self.statelessToken)
        #expect(push.registration.app == "monal")
        #expect(push.pushClass == .alert)
        #expect(try await fixture.store.registration(node: Self.statelessToken) == nil, "nothing is registered")
    }

    @Test func statelessNodesAreOnlyForAppsThatOptIn() async {
        let fixture = Fixture()
        #expect(await fixture.dispatcher.publish(Self.statelessPublish()) == .unknownNode)
        let other = Fixture(stateless: Self.monal)
        #expect(await other.dispatcher.publish(Self.statelessPublish(module: "notOurs")) == .unknownNode)
        #expect(other.provider.pushes.isEmpty)
    }

    @Test func aStatelessNodeTakesPublishesFromServersOnly() async {
        let fixture = Fixture(stateless: Self.monal)
        #expect(await fixture.dispatcher.publish(Self.statelessPublish(byServer: false)) == .forbidden)
        #expect(fixture.provider.pushes.isEmpty)
    }

    @Test func aDeadStatelessTokenTellsTheServerToDropTheNode() async {
        let fixture = Fixture(stateless: Self.monal)
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        #expect(await fixture.dispatcher.publish(Self.statelessPublish()) == .tokenRemoved(reason: "Unregistered"))
    }

    @Test func aStatelessNodeGetsAPushPerIntervalAtMostAndEveryPublishHearsTheVerdict() async throws {
        let fixture = Fixture(stateless: Self.monal)
        try await fixture.running {
            #expect(await fixture.dispatcher.publish(Self.statelessPublish()) == .delivered)
            let burst = HeldReplies(fixture.dispatcher, Self.statelessPublish(body: "more"), count: 50)
            #expect(await eventually { fixture.dispatcher.heldReplies == 50 && fixture.clock.sleeperCount > 0 })
            // Past the 2 s coalescing window, short of the app's 20 s: still one push.
            fixture.clock.advance(by: .seconds(19))
            try await Task.sleep(for: .milliseconds(50))
            #expect(fixture.provider.pushes.count == 1)
            fixture.clock.advance(by: .seconds(1))
            #expect(await burst.outcomes() == Array(repeating: .delivered, count: 50))
            #expect(fixture.provider.pushes.count == 2)
            // A registered node keeps the coalescing window of its own.
            #expect(await fixture.dispatcher.publish(publish()) == .delivered)
            fixture.clock.advance(by: .seconds(3))
            #expect(await fixture.dispatcher.publish(publish()) == .delivered)
            #expect(fixture.provider.pushes.count == 4)
        }
    }

    @Test func aMongooseIMPublishGoesToTheDeviceItCarriesAndSilentMeansBackground() async throws {
        let mongooseIM = StatelessApps(mongooseIM: [.init(app: "monal", services: [.apns])])
        let fixture = Fixture(stateless: mongooseIM)
        var publish = Self.statelessPublish(body: "hi", module: nil)
        publish.node = "client-node"
        publish.device = Publish.Device(token: Self.statelessToken, service: "apns", silent: true)
        #expect(await fixture.dispatcher.publish(publish) == .delivered)
        let push = try #require(fixture.provider.pushes.first)
        #expect(push.registration.token == Self.statelessToken)
        #expect(push.pushClass == .background, "silent, although it has a body")
        publish.device?.service = "fcm"
        publish.node = "another-node"
        #expect(await fixture.dispatcher.publish(publish) == .unknownNode, "the app has no FCM")
    }

    @Test func aStoredRetryForAStatelessNodeResumesAfterARestart() async throws {
        let fixture = Fixture(stateless: Self.monal)
        let wallNow = fixture.wallNow
        let waiting = PendingPush(
            node: Self.statelessToken, publish: Self.statelessPublish(body: "kept"), pushClass: .alert, attempt: 1,
            notBefore: wallNow.addingTimeInterval(1), deadline: wallNow.addingTimeInterval(60)
        )
        try await fixture.store.savePending(waiting, owner: "an instance that died", leaseUntil: wallNow.addingTimeInterval(-1))
        try await fixture.running {
            #expect(await eventually { fixture.dispatcher.queuedPushes == 1 && fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { fixture.provider.pushes.count == 1 })
            #expect(fixture.provider.pushes.first?.registration.token == Self.statelessToken)
            #expect(fixture.provider.pushes.first?.publish.summary?.lastMessageBody == "kept")
        }
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(!constantTimeEquals("abc", "abc" + String(repeating: "\0", count: 256)))
        #expect(constantTimeEquals("sécret", "sécret"))
        #expect(!constantTimeEquals("", "a"))
        #expect(constantTimeEquals("", ""))
    }
}

/// The component's fast path, `publish(_:reply:)`: the same outcomes as `publish(_:)`, with the work that
/// must wait (the store's own copy before a refusal, a dead token's removal, a stored retry, a lookup the
/// store cannot answer at once, a provider without a callback) handed to the dispatcher's own tasks.
@Suite(.timeLimit(.minutes(1))) struct PushDispatcherFastPathTests {
    private func publishNow(_ dispatcher: PushDispatcher<ManualClock>, _ publish: Publish) async -> PublishOutcome {
        await withCheckedContinuation { continuation in
            dispatcher.publish(publish) { continuation.resume(returning: $0) }
        }
    }

    @Test func deliversOnTheCallingThreadWhenTheRegistrationIsAtHand() async throws {
        let fixture = Fixture()
        // Without the dispatcher's tasks running: nothing here may need them.
        let answered = Box<PublishOutcome?>(nil)
        fixture.dispatcher.publish(publish()) { outcome in answered.withLock { $0 = outcome } }
        #expect(answered.withLock { $0 } == .delivered, "answered before publish returned")
        #expect(fixture.provider.pushes.map(\.registration.token) == ["token-node-1"])
        fixture.dispatcher.publish(publish("nope")) { outcome in answered.withLock { $0 = outcome } }
        #expect(answered.withLock { $0 } == .unknownNode)
        answered.withLock { $0 = nil }
        fixture.dispatcher.publish(publish(secret: "wrong", from: "evil.example")) { outcome in answered.withLock { $0 = outcome } }
        try await Task.sleep(for: .milliseconds(50))
        #expect(answered.withLock { $0 } == nil, "a refusal waits for the store's own copy, in the dispatcher's tasks")
    }

    @Test func aRefusalIsDecidedOnTheStoresOwnCopy() async throws {
        let fixture = Fixture()
        var stale = try #require(try await fixture.store.registration(node: "node-1"))
        stale.secret = "the-secret-before-re-registering"
        stale.token = "stale-token"
        fixture.store.staleForDelivery.withLock { $0["node-1"] = stale }
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish()) == .delivered, "the store's own copy has the publish's secret")
            #expect(fixture.provider.pushes.map(\.registration.token) == ["token-node-1"])
            #expect(await publishNow(fixture.dispatcher, publish(secret: "wrong")) == .forbidden)
        }
    }

    @Test func aLookupTheStoreCannotAnswerAtOnceIsMadeInTheDispatchersTasks() async throws {
        let fixture = Fixture()
        fixture.store.answersNow.store(false, ordering: .relaxed)
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish()) == .delivered)
            #expect(await publishNow(fixture.dispatcher, publish("nope")) == .unknownNode)
        }
        #expect(fixture.provider.pushes.count == 1)
    }

    @Test func aDeadTokenIsRemovedBeforeTheServerHearsSo() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish()) == .tokenRemoved(reason: "Unregistered"))
            #expect(try await fixture.store.registration(node: "node-1") == nil)
            #expect(await publishNow(fixture.dispatcher, publish()) == .unknownNode)
        }
    }

    @Test func aDeadVoIPTokenIsForgottenAndTheCallGoesOutAsAnAlert() async throws {
        let fixture = Fixture()
        try await fixture.store.save(registration("phone", voip: "pushkit-token"))
        fixture.provider.answer(.deadToken(reason: "Unregistered"))
        let call = Publish(node: "phone", publisherDomain: "example.org", secret: "s3cret", encrypted: .init(payload: "x", iv: "y", type: "voip"), highPriority: true)
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, call) == .delivered)
            #expect(fixture.provider.pushes.map(\.pushClass) == [.voip, .alert])
            #expect(try await fixture.store.registration(node: "phone")?.voipToken == nil)
        }
    }

    @Test func theEnvironmentThatAcceptedATokenIsRememberedBeforeTheReply() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.delivered(id: "a", environment: .sandbox))
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish()) == .delivered)
            #expect(try await fixture.store.registration(node: "node-1")?.environment == .sandbox)
        }
    }

    @Test func aRetryIsStoredBeforeTheServerHearsRetryingAndGoesOnSchedule() async throws {
        let fixture = Fixture()
        fixture.provider.answer(.retry(reason: "ServiceUnavailable", retryAfter: nil))
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish(body: "one")) == .retrying(reason: "ServiceUnavailable"))
            #expect(try await fixture.store.pendingPushes(limit: 10).map(\.node) == ["node-1"], "stored before the reply")
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { fixture.provider.pushes.count == 2 })
            #expect(await eventually { (try? await fixture.store.pendingPushes(limit: 10).isEmpty) == true })
        }
    }

    @Test func aBurstHearsTheVerdictOnThePushAtItsEnd() async throws {
        let fixture = Fixture()
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, publish()) == .delivered)
            let answers = Box<[PublishOutcome]>([])
            for _ in 0..<5 { fixture.dispatcher.publish(publish(body: "more")) { outcome in answers.withLock { $0.append(outcome) } } }
            #expect(fixture.dispatcher.heldReplies == 5)
            #expect(await eventually { fixture.clock.sleeperCount > 0 })
            fixture.clock.advance(by: .seconds(2))
            #expect(await eventually { answers.withLock { $0 } == Array(repeating: .delivered, count: 5) })
            #expect(fixture.provider.pushes.count == 2)
        }
    }

    @Test func aStatelessNodeGoesStraightToItsToken() async throws {
        let fixture = Fixture(stateless: PushDispatcherTests.monal)
        try await fixture.running { () async throws in
            #expect(await publishNow(fixture.dispatcher, PushDispatcherTests.statelessPublish(body: "hi")) == .delivered)
        }
        #expect(fixture.provider.pushes.first?.registration.token == PushDispatcherTests.statelessToken)
    }

    /// A thousand publishes over a hundred nodes from two threads: each answered once, every push made.
    @Test func manyPublishesFromSeveralThreadsAreEachAnsweredOnce() async throws {
        let fixture = Fixture(policy: DeliveryPolicy(coalescingWindow: .zero))
        for index in 0..<100 { try await fixture.store.save(registration("n\(index)")) }
        let answers = Box<[Int: PublishOutcome]>([:])
        try await fixture.running { () async throws in
            await withTaskGroup(of: Void.self) { group in
                for half in 0..<2 {
                    group.addTask {
                        for index in stride(from: half, to: 1_000, by: 2) {
                            fixture.dispatcher.publish(publish("n\(index % 100)")) { outcome in
                                answers.withLock { answers in
                                    #expect(answers[index] == nil, "answered once")
                                    answers[index] = outcome
                                }
                            }
                        }
                    }
                }
            }
            #expect(await eventually { answers.withLock { $0.count } == 1_000 })
        }
        #expect(answers.withLock { $0.values.allSatisfy { $0 == .delivered } })
        #expect(fixture.provider.pushes.count == 1_000)
    }
}

/// Publishes whose replies the dispatcher holds back (a burst, a queued push), sent through the callback
/// API. Each reply is kept as it comes, so one that never comes fails an expectation after a bounded
/// wait, by name, where awaiting it would hang the test until its time limit.
private final class HeldReplies: Sendable {
    private let count: Int
    private let received = Mutex<[Int: PublishOutcome]>([:])

    init(_ dispatcher: PushDispatcher<ManualClock>, _ publish: Publish, count: Int) {
        self.count = count
        for index in 0..<count {
            dispatcher.publish(publish) { outcome in
                self.received.withLock { received in
                    #expect(received[index] == nil, "publish \(index) answered once")
                    received[index] = outcome
                }
            }
        }
    }

    /// Every reply in the order the publishes were made, or nil where one has not come in 30 s.
    func outcomes() async -> [PublishOutcome?] {
        let complete = await eventually { self.received.withLock { $0.count } == self.count }
        #expect(complete, "\(received.withLock { $0.count }) of \(count) publishes answered")
        return received.withLock { received in (0..<count).map { received[$0] } }
    }
}

/// A value behind a lock that escaping closures can share.
private final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) {
        self.value = Mutex(value)
    }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        value.withLock { body(&$0) }
    }
}
