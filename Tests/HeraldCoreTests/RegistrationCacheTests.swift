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
}
