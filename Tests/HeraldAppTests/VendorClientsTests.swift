import HeraldTesting
import Synchronization
import Testing

@testable import HeraldApp

/// Vendor clients replaced on SIGHUP stay open for the requests on them, then close; the rest close
/// when Herald stops.
@Suite struct VendorClientsTests {
    final class Closed: Sendable {
        private let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    static func vendors(_ name: String, closed: Closed) -> VendorSet {
        var vendors = VendorSet()
        vendors.shutdowns = [{ closed.add(name) }]
        return vendors
    }

    @Test func replacedClientsCloseAfterTheDelayAndTheCurrentOnesWhenStopped() async throws {
        let closed = Closed()
        let clients = VendorClients(initial: Self.vendors("first", closed: closed), retirementDelay: .milliseconds(300))
        let running = Task { try await clients.run() }
        clients.replace(with: Self.vendors("second", closed: closed))
        #expect(closed.all.isEmpty, "requests on the old clients get time to finish")
        #expect(await eventually { closed.all == ["first"] })
        running.cancel()
        try? await running.value
        #expect(closed.all == ["first", "second"])
    }

    @Test func clientsStillRetiringCloseWhenHeraldStops() async throws {
        let closed = Closed()
        let clients = VendorClients(initial: Self.vendors("first", closed: closed), retirementDelay: .seconds(3600))
        let running = Task { try await clients.run() }
        clients.replace(with: Self.vendors("second", closed: closed))
        try await Task.sleep(for: .milliseconds(50))
        running.cancel()
        try? await running.value
        #expect(Set(closed.all) == ["first", "second"])
        #expect(closed.all.count == 2, "each closed once")
    }
}
