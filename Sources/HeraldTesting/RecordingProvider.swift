import HeraldCore
import Synchronization

/// A provider that records pushes and answers from a script, for dispatcher tests; through the callback
/// it answers at once, on the calling thread.
public final class RecordingProvider: CallbackPushProvider {
    private let state = Mutex<(pushes: [PushRequest], answers: [PushOutcome])>(([], []))

    public init(answers: [PushOutcome] = []) {
        state.withLock { $0.answers = answers }
    }

    public var pushes: [PushRequest] { state.withLock { $0.pushes } }

    /// Queues answers for the next sends; once used up, pushes are delivered.
    public func answer(_ outcomes: PushOutcome...) {
        state.withLock { $0.answers += outcomes }
    }

    public func send(_ push: PushRequest) async -> PushOutcome {
        state.withLock { state in
            state.pushes.append(push)
            return state.answers.isEmpty ? .delivered(id: "id-\(state.pushes.count)") : state.answers.removeFirst()
        }
    }

    public func send(_ push: PushRequest, completion: @escaping @Sendable (PushOutcome) -> Void) {
        let outcome = state.withLock { state in
            state.pushes.append(push)
            return state.answers.isEmpty ? PushOutcome.delivered(id: "id-\(state.pushes.count)") : state.answers.removeFirst()
        }
        completion(outcome)
    }
}
