import Foundation
import HeraldCore
import Testing

@Suite struct RegistrationCacheTests {
    func registration(_ node: String, token: String = "token") -> Registration {
        Registration(
            node: node, secret: "secret", app: "chat", service: .apns, dialect: .p2, token: token, environment: .production,
            accountDomain: "example.org", accountKey: "account", deviceKey: "device-\(node)", createdAt: Date(timeIntervalSince1970: 0)
        )
    }

    @Test func offItKeepsNothingAndHandsOutNoTicket() throws {
        let cache = RegistrationCache(capacity: 10)
        let (found, ticket) = cache.lookup("n1")
        #expect(found == nil && ticket == nil)
        cache.reset(enabled: true)
        let (_, onTicket) = cache.lookup("n1")
        cache.reset(enabled: false)
        cache.fill(registration("n1"), ticket: try #require(onTicket))
        #expect(cache.count == 0, "a read that finishes after the cache went off is not kept")
    }

    @Test func aReadIsKeptOnlyIfNothingWasInvalidatedWhileItRan() throws {
        let cache = RegistrationCache(capacity: 10)
        cache.reset(enabled: true)
        let ticket = try #require(cache.lookup("n1").ticket)
        cache.invalidate("n1")  // the notification overtook the read
        cache.fill(registration("n1", token: "old"), ticket: ticket)
        #expect(cache.lookup("n1").registration == nil, "the old row must not stay behind")

        let fresh = try #require(cache.lookup("n1").ticket)
        cache.fill(registration("n1", token: "new"), ticket: fresh)
        #expect(cache.lookup("n1").registration?.token == "new")
        #expect(cache.lookup("n1").ticket == nil, "a hit needs no read")
        cache.invalidate("n1")
        #expect(cache.lookup("n1").registration == nil)
    }

    @Test func itHoldsNoMoreThanItsCapacity() throws {
        let cache = RegistrationCache(capacity: 100)
        cache.reset(enabled: true)
        for index in 0..<1_000 {
            let node = "n\(index)"
            cache.fill(registration(node), ticket: try #require(cache.lookup(node).ticket))
        }
        #expect(cache.count == 100)
        let last = "n999"
        #expect(cache.lookup(last).registration?.node == last, "the newest entry is kept")
        cache.reset(enabled: true)
        #expect(cache.count == 0)
    }

    private func fill(_ cache: RegistrationCache, _ node: String, token: String = "token") {
        guard let ticket = cache.lookup(node).ticket else { return }
        cache.fill(registration(node, token: token), ticket: ticket)
    }

    /// First in, first out: a full cache drops the node that came in longest ago.
    @Test func aFullCacheDropsTheOldestEntry() throws {
        let cache = RegistrationCache(capacity: 3)
        cache.reset(enabled: true)
        for node in ["a", "b", "c"] { fill(cache, node) }
        // Filling a node already there changes nothing about the order.
        // (A ticket is good for any node while nothing is invalidated.)
        if let ticket = cache.lookup("not-cached").ticket { cache.fill(registration("a", token: "newer"), ticket: ticket) }
        fill(cache, "d")
        #expect(cache.lookup("a").registration == nil, "the oldest went")
        #expect(cache.lookup("b").registration != nil && cache.lookup("c").registration != nil && cache.lookup("d").registration != nil)
        #expect(cache.count == 3)
    }

    /// A node invalidated and filled again takes a new place; its old one, reused later, does not take it out.
    @Test func aNodeFilledAgainIsNotDroppedForItsFormerPlace() {
        let cache = RegistrationCache(capacity: 3)
        cache.reset(enabled: true)
        for node in ["a", "b", "c"] { fill(cache, node) }
        cache.invalidate("c")
        fill(cache, "c", token: "again")
        #expect(cache.lookup("a").registration == nil, "c's refill took the oldest's place")
        fill(cache, "d")
        #expect(cache.lookup("b").registration == nil)
        // The ring comes round to c's former place: c stays, nothing else is dropped.
        fill(cache, "e")
        #expect(cache.lookup("c").registration?.token == "again")
        #expect(cache.count == 3)
        fill(cache, "f")
        #expect(cache.lookup("c").registration == nil, "and c goes in its turn")
    }

    /// A million nodes through a cache of a thousand: the newest thousand are held, nothing more.
    @Test func manyNodesThroughASmallCacheKeepTheNewest() {
        let cache = RegistrationCache(capacity: 1_000)
        cache.reset(enabled: true)
        for index in 0..<100_000 { fill(cache, "n\(index)") }
        #expect(cache.count == 1_000)
        #expect((99_000..<100_000).allSatisfy { cache.lookup("n\($0)").registration != nil })
        #expect(cache.lookup("n98999").registration == nil)
    }

    @Test func activityIsBroughtUpToDateWithoutInvalidating() throws {
        let cache = RegistrationCache(capacity: 10)
        cache.reset(enabled: true)
        let ticket = try #require(cache.lookup("n1").ticket)
        cache.fill(registration("n1"), ticket: ticket)
        let later = try #require(cache.lookup("n2").ticket)
        let pushed = Date(timeIntervalSince1970: 1_800_000_000)
        cache.recordActivity(["n1": RegistrationActivity(lastPushAt: pushed), "n9": RegistrationActivity(lastFailure: "x")])
        #expect(cache.lookup("n1").registration?.lastPushAt == pushed)
        #expect(cache.lookup("n9").registration == nil, "nothing is added")
        cache.fill(registration("n2"), ticket: later)
        #expect(cache.lookup("n2").registration != nil, "a read under way still fills: activity invalidates nothing")
    }

    @Test func activityForManyMoreNodesThanAChunkReachesEveryCachedOne() throws {
        let cache = RegistrationCache(capacity: 5_000)
        cache.reset(enabled: true)
        for index in 0..<5_000 { fill(cache, "n\(index)") }
        let earlier = Date(timeIntervalSince1970: 1_800_000_000)
        let later = earlier.addingTimeInterval(60)
        // Twice as many nodes as are cached, over many chunks: the uncached half is skipped, not added.
        let nodes = (0..<10_000).map { "n\($0)" }
        #expect(nodes.count > 10 * RegistrationCache.activityChunk)
        cache.recordActivity(Dictionary(uniqueKeysWithValues: nodes.map { ($0, RegistrationActivity(lastPushAt: earlier)) }))
        cache.recordActivity(Dictionary(uniqueKeysWithValues: nodes.enumerated().map { index, node in
            (node, index.isMultiple(of: 2) ? RegistrationActivity(lastPushAt: later) : RegistrationActivity(lastFailure: "Unregistered"))
        }))
        #expect(cache.count == 5_000)
        for index in 0..<5_000 {
            let cached = try #require(cache.lookup("n\(index)").registration)
            if index.isMultiple(of: 2) {
                #expect(cached.lastPushAt == later && cached.lastFailure == nil)
            } else {
                #expect(cached.lastPushAt == earlier && cached.lastFailure == "Unregistered", "a failure keeps the last push time")
            }
        }
        #expect(cache.lookup("n5000").registration == nil)
    }
}
