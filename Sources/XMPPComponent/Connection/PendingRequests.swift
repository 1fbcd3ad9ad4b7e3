import Synchronization
import XMLStream

/// iq requests the component sent and is waiting on, keyed by id.
final class PendingRequests: Sendable {
    private let waiting = Mutex<[String: AsyncThrowingStream<StreamElement, any Error>.Continuation]>([:])

    func register(_ id: String, _ continuation: AsyncThrowingStream<StreamElement, any Error>.Continuation) {
        waiting.withLock { $0[id] = continuation }
    }

    func remove(_ id: String) {
        _ = waiting.withLock { $0.removeValue(forKey: id) }
    }

    /// Hands a result or error to its waiting request; false if nobody was waiting for it.
    func resolve(_ response: StreamElement) -> Bool {
        guard let id = response.stanzaID, let continuation = waiting.withLock({ $0.removeValue(forKey: id) }) else {
            return false
        }
        continuation.yield(response)
        continuation.finish()
        return true
    }

    /// Fails every waiting request, e.g. when the connection is lost.
    func failAll(_ error: any Error) {
        let all = waiting.withLock { pending in
            defer { pending.removeAll() }
            return Array(pending.values)
        }
        for continuation in all { continuation.finish(throwing: error) }
    }
}

/// Why a request sent by the component got no usable answer.
public enum ComponentRequestError: Error, Sendable, Hashable {
    case notConnected
    case timedOut
    case connectionLost
    case missingID
    /// The peer answered with an error stanza.
    case stanzaError(StanzaError)
}
