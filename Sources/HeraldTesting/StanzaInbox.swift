import NIOCore
import Synchronization
import XMLStream

/// Stanzas received by a test peer, waited for by predicate with a deadline.
public final class StanzaInbox: Sendable {
    public struct Timeout: Error, CustomStringConvertible {
        public let waitedFor: String
        public var description: String { "timed out waiting for \(waitedFor)" }
    }

    public struct Closed: Error {
        public init() {}
    }

    private struct Waiter {
        let predicate: @Sendable (StreamElement) -> Bool
        let continuation: CheckedContinuation<StreamElement, any Error>
    }

    private struct State {
        var buffer: [StreamElement] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func deliver(_ stanza: StreamElement) {
        let waiter: Waiter? = state.withLock { state in
            if let key = state.waiters.first(where: { $0.value.predicate(stanza) })?.key {
                return state.waiters.removeValue(forKey: key)
            }
            state.buffer.append(stanza)
            return nil
        }
        waiter?.continuation.resume(returning: stanza)
    }

    public func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Closed()) }
    }

    /// Everything received so far that no waiter took.
    public var unclaimed: [StreamElement] { state.withLock { $0.buffer } }

    /// The first stanza (already received or still to come) that matches, within `timeout`.
    public func next(
        _ description: String = "a stanza",
        timeout: Duration = .seconds(30),
        where predicate: @escaping @Sendable (StreamElement) -> Bool = { _ in true }
    ) async throws -> StreamElement {
        try await withCheckedThrowingContinuation { continuation in
            let key: Int? = state.withLock { state in
                if let index = state.buffer.firstIndex(where: predicate) {
                    continuation.resume(returning: state.buffer.remove(at: index))
                    return nil
                }
                if state.closed {
                    continuation.resume(throwing: Closed())
                    return nil
                }
                let key = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[key] = Waiter(predicate: predicate, continuation: continuation)
                return key
            }
            guard let key else { return }
            let nanoseconds = Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
                let expired = self.state.withLock { $0.waiters.removeValue(forKey: key) }
                expired?.continuation.resume(throwing: Timeout(waitedFor: description))
            }
        }
    }
}
