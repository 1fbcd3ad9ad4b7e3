import Synchronization

/// Set once, read from any thread: whether a connection has stopped taking requests.
final class RetiringFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
