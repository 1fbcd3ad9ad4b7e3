import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Owns the vendors' HTTP clients. It runs first, so the group shuts it down last: the clients stay
/// open until everything that sends through them has stopped. Clients replaced by a credential reload
/// are closed once the pushes already on them have had time to finish.
final class VendorClients: Service, Sendable {
    /// How long a replaced client stays open for the requests still on it (above every request timeout).
    private let retirementDelay: Duration
    private let state: Mutex<(current: VendorSet, retiring: [VendorSet])>
    private let retirements: AsyncStream<Void>.Continuation
    private let retirementSignals: AsyncStream<Void>

    init(initial: VendorSet, retirementDelay: Duration = .seconds(30)) {
        self.retirementDelay = retirementDelay
        state = Mutex((initial, []))
        (retirementSignals, retirements) = AsyncStream.makeStream(of: Void.self)
    }

    var current: VendorSet { state.withLock { $0.current } }

    func replace(with vendors: VendorSet) {
        state.withLock { state in
            state.retiring.append(state.current)
            state.current = vendors
        }
        retirements.yield()
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for await _ in retirementSignals.cancelOnGracefulShutdown() {
                group.addTask {
                    try? await Task.sleep(for: self.retirementDelay)
                    let retired: VendorSet? = self.state.withLock { $0.retiring.isEmpty ? nil : $0.retiring.removeFirst() }
                    await retired?.shutdown()
                }
            }
            group.cancelAll()
        }
        let (current, retiring) = state.withLock { ($0.current, $0.retiring) }
        for vendors in retiring { await vendors.shutdown() }
        await current.shutdown()
    }
}

/// Reloads vendor credentials on SIGHUP without touching the component connections.
struct CredentialReloader: Service {
    let application: HeraldApplication

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await application.reloadCredentials()
        }
    }
}
