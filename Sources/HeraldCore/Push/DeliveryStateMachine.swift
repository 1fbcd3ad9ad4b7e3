import HeraldSupport

/// Herald's delivery logic for every node, as a value: publishes, vendor verdicts and timers go in; sends,
/// replies and changes to the stored queue come out. `PushDispatcher` drives it and does the I/O.
///
/// The first publish for a node goes out at once and is answered with its verdict. Publishes within the
/// coalescing window after it, or while it is in flight, join one push sent when the window ends and
/// the first is answered, and each is answered with that push's verdict: a reply never claims a
/// delivery that did not happen. With no window, every publish is its own push. A push the vendor turned away for now is stored before anyone hears
/// "retrying", and publishes meanwhile update it and are answered `retrying` too.
public struct DeliveryStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public typealias ReplyID = Int

    /// A push to send now.
    public struct Send: Sendable, Hashable {
        public var id: Int
        public var node: String
        public var publish: Publish
        public var pushClass: PushClass
        /// This push's attempt, counting from 1.
        public var attempt: Int
        /// The registration as of the publish; nil when the dispatcher must read it again (a push that
        /// waited, which may have been re-registered or removed meanwhile).
        public var registration: Registration?
    }

    /// A push kept in the store: the dispatcher turns its instants into dates.
    public struct Stored: Sendable, Hashable {
        public var node: String
        public var publish: Publish
        public var pushClass: PushClass
        public var attempt: Int
        public var notBefore: Instant
        public var deadline: Instant
    }

    public enum Action: Sendable, Hashable {
        case send(Send)
        case reply([ReplyID], PublishOutcome)
        /// Store the node's pending push (replacing any), then answer `replies` `.retrying(reason)`.
        case store(Stored, replies: [ReplyID], reason: String)
        /// Remove the node's stored pending push.
        case forget(node: String)
        /// Call `wake(node:now:)` at `at` (or at once, if it is past).
        case wake(node: String, at: Instant)
    }

    /// A push not yet sent: the end of a burst (holding its publishers' replies) or a stored retry.
    struct Waiting: Sendable, Hashable {
        var publish: Publish
        var pushClass: PushClass
        var registration: Registration?
        var attempt: Int
        var notBefore: Instant
        var deadline: Instant
        var replies: [ReplyID]
        var stored: Bool
        var reason: String
    }

    /// What is kept for a node between its publishes. Every node pushed to lately has one, so an idle
    /// node's must be small: the pushes themselves (about 600 bytes each) are kept elsewhere. With a
    /// million registrations, a table of 40,000 nodes that each held their pushes inline, and a table of
    /// in-flight pushes of their own, took 90 MB (`herald-bench path`, steady 5000/s, 1000k).
    struct NodeState: Sendable {
        var lastSent: Instant?
        /// A longer least time between the node's pushes than the coalescing window: a stateless app's
        /// rate limit, which guards a token anyone may publish to.
        var spacing: Duration = .zero
        /// The node's pushes in `inFlight`: one at a time while coalescing, any number without.
        var inFlightCount = 0
        var next: Waiting? {
            get { nextBox?.waiting }
            set { nextBox = newValue.map(WaitingBox.init) }
        }
        /// Most nodes have no waiting push; the box keeps the room for one out of the table.
        private var nextBox: WaitingBox?
    }

    final class WaitingBox: Sendable {
        let waiting: Waiting
        init(_ waiting: Waiting) { self.waiting = waiting }
    }

    public let policy: DeliveryPolicy
    /// Draws the jitter of retry delays; injected so that tests know the delays.
    private let random: @Sendable () -> UInt64
    private(set) var nodes: [String: NodeState] = [:]
    /// Pushes on their way, by send id, for every node: one table whose room is reused, where a table
    /// per node was made for each publish and kept while the node was remembered.
    private var inFlight: [Int: (node: String, push: Waiting)] = [:]
    var pushesInFlight: Int { inFlight.count }
    private var nextSendID = 0
    /// Pushes waiting (end of burst or retry), bounded by `policy.maximumQueuedPushes`.
    public private(set) var queuedPushes = 0
    /// Replies held for a push at the end of a burst, bounded by `policy.maximumHeldReplies`.
    public private(set) var heldReplies = 0
    /// Node states kept before idle ones are forgotten, and how often that happened (for tests).
    private var pruneAbove: Int
    private(set) var prunes = 0

    public init(policy: DeliveryPolicy, random: (@Sendable () -> UInt64)? = nil) {
        self.policy = policy
        pruneAbove = 4 * max(policy.maximumQueuedPushes, 1024)
        self.random = random ?? {
            var generator = SystemRandomNumberGenerator()
            return generator.next()
        }
    }

    // MARK: Events

    /// A publish that passed its checks, for `registration`, to be answered through `reply`.
    public mutating func publish(
        _ publish: Publish, pushClass: PushClass, registration: Registration, reply: ReplyID, now: Instant,
        spacing: Duration = .zero
    ) -> [Action] {
        let node = publish.node
        // Taken out of the table while it changes, so that its in-flight table is not copied on write.
        var state = nodes.removeValue(forKey: node) ?? NodeState()
        state.spacing = spacing
        defer { nodes[node] = state }

        if var next = state.next {
            (next.publish, next.pushClass) = Self.merge(older: (next.publish, next.pushClass), newer: (publish, pushClass))
            next.registration = registration
            if next.stored {
                // A retry is waiting: it carries this news now, and goes when it was due.
                state.next = next
                return [.store(stored(node, next), replies: [reply], reason: next.reason)]
            }
            guard heldReplies < policy.maximumHeldReplies else { return [.reply([reply], .overloaded)] }
            next.replies.append(reply)
            heldReplies += 1
            state.next = next
            return []
        }
        let nodeWindow = window(of: state)
        let windowEnd = state.lastSent.map { $0.advanced(by: nodeWindow) }
        // With a window, a publish while its node's push is out waits to go after it; without one
        // (`coalescing_window: 0s`), every publish is a push of its own.
        let joinsNext = windowEnd.map { now < $0 } == true || (state.inFlightCount > 0 && nodeWindow > .zero)
        if joinsNext {
            guard queuedPushes < policy.maximumQueuedPushes, heldReplies < policy.maximumHeldReplies else {
                return [.reply([reply], .overloaded)]
            }
            let notBefore = max(windowEnd ?? now, now)
            state.next = Waiting(
                publish: publish, pushClass: pushClass, registration: registration, attempt: 0, notBefore: notBefore,
                deadline: now.advanced(by: policy.retryDeadline), replies: [reply], stored: false, reason: ""
            )
            queuedPushes += 1
            heldReplies += 1
            return [.wake(node: node, at: notBefore)]
        }
        pruneIdleNodes(now: now)
        let push = Waiting(
            publish: publish, pushClass: pushClass, registration: registration, attempt: 0, notBefore: now,
            deadline: now.advanced(by: policy.retryDeadline), replies: [reply], stored: false, reason: ""
        )
        return [.send(start(push, node: node, state: &state, now: now))]
    }

    /// The verdict on the push `id` for `node`.
    public mutating func verdict(_ verdict: DeliveryVerdict, send id: Int, node: String, now: Instant) -> [Action] {
        guard let index = inFlight.index(forKey: id), inFlight[index].value.node == node else { return [] }
        let sent = inFlight.remove(at: index).value.push
        guard var state = nodes.removeValue(forKey: node) else { return [] }
        defer {
            // With no window, an answered node has nothing to remember: it leaves the table now
            // rather than at the next prune.
            if state.inFlightCount > 0 || state.next != nil || window(of: state) > .zero { nodes[node] = state }
        }
        state.inFlightCount -= 1
        var actions: [Action] = []

        switch verdict {
        case .delivered:
            actions.append(.reply(sent.replies, .delivered))
            if sent.stored, state.next?.stored != true { actions.append(.forget(node: node)) }
        case .tokenRemoved, .registrationGone:
            // The registration is gone: so is anything still waiting for it.
            let outcome: PublishOutcome = if case .tokenRemoved(let reason) = verdict { .tokenRemoved(reason: reason) } else { .unknownNode }
            actions.append(.reply(sent.replies, outcome))
            if let next = state.next {
                actions.append(.reply(next.replies, outcome))
                release(next)
                state.next = nil
            }
            actions.append(.forget(node: node))
        case .retry(let reason, let retryAfter):
            if var next = state.next {
                // Newer news is already waiting for this node and goes instead of a retry of this push.
                if next.stored {
                    actions.append(.reply(sent.replies, .retrying(reason: next.reason)))
                } else {
                    // These publishers hear the verdict on that push, which carries their news too.
                    next.replies += sent.replies
                    (next.publish, next.pushClass) = Self.merge(older: (sent.publish, sent.pushClass), newer: (next.publish, next.pushClass))
                    heldReplies += sent.replies.count
                    state.next = next
                    if sent.stored, state.next?.stored != true { actions.append(.forget(node: node)) }
                }
            } else if let retry = retry(sent, reason: reason, retryAfter: retryAfter, now: now) {
                state.next = retry
                queuedPushes += 1
                actions.append(.store(stored(node, retry), replies: sent.replies, reason: reason))
                actions.append(.wake(node: node, at: retry.notBefore))
            } else {
                actions.append(.reply(sent.replies, .notDelivered(reason: reason)))
                if sent.stored, state.next?.stored != true { actions.append(.forget(node: node)) }
            }
        case .unconfirmed(let reason):
            actions.append(.reply(sent.replies, .unconfirmed(reason: reason)))
            if sent.stored, state.next?.stored != true { actions.append(.forget(node: node)) }
        case .failed(let reason):
            actions.append(.reply(sent.replies, .failed(reason: reason)))
            if sent.stored, state.next?.stored != true { actions.append(.forget(node: node)) }
        }
        // A push that became due while this one was out goes now, from the dispatcher's timer loop.
        if let next = state.next, next.notBefore <= now, state.inFlightCount == 0 {
            actions.append(.wake(node: node, at: now))
        }
        return actions
    }

    /// A timer for `node` fired: sends its waiting push if it is due and nothing is in flight.
    public mutating func wake(node: String, now: Instant) -> [Action] {
        guard nodes[node]?.inFlightCount == 0, let next = nodes[node]?.next else { return [] }
        guard next.notBefore <= now else { return [.wake(node: node, at: next.notBefore)] }
        var state = nodes.removeValue(forKey: node) ?? NodeState()
        defer { nodes[node] = state }
        state.next = nil
        release(next)
        return [.send(start(next, node: node, state: &state, now: now))]
    }

    /// Pushes found in the store at start: each goes when it was due; one past its deadline is stale news
    /// and is dropped.
    public mutating func restore(_ pushes: [Stored], now: Instant) -> [Action] {
        var actions: [Action] = []
        for push in pushes where nodes[push.node]?.next == nil {
            guard push.deadline > now else {
                actions.append(.forget(node: push.node))
                continue
            }
            var state = nodes[push.node] ?? NodeState()
            state.next = Waiting(
                publish: push.publish, pushClass: push.pushClass, registration: nil, attempt: push.attempt,
                notBefore: push.notBefore, deadline: push.deadline, replies: [], stored: true, reason: "queued"
            )
            nodes[push.node] = state
            queuedPushes += 1
            actions.append(.wake(node: push.node, at: push.notBefore))
        }
        return actions
    }

    /// The dispatcher stops: pushes waiting for the end of their burst are stored for the next start
    /// rather than sent early, and their publishers hear `retrying`.
    public mutating func shutDown() -> [Action] {
        var actions: [Action] = []
        for (node, var state) in nodes {
            guard var next = state.next, !next.stored else { continue }
            heldReplies -= next.replies.count
            actions.append(.store(stored(node, next), replies: next.replies, reason: "Herald restarting"))
            next.replies = []
            next.stored = true
            state.next = next
            nodes[node] = state
        }
        return actions
    }

    /// Storing a node's pending push failed: it is dropped, and its publishers must not hear "retrying".
    public mutating func storeFailed(node: String) -> [Action] {
        guard var state = nodes[node], let next = state.next, next.stored else { return [] }
        state.next = nil
        release(next)
        nodes[node] = state
        return []
    }

    // MARK: Helpers

    /// What one push carries for two publishes: the newer news at the more urgent class, except that a
    /// call is never replaced by a message. A VoIP push must carry a call (iOS ends an app that reports
    /// none), and the call's push wakes the app, which then fetches the message too.
    /// The least time between two pushes for a node.
    private func window(of state: NodeState) -> Duration {
        max(policy.coalescingWindow, state.spacing)
    }

    static func merge(older: (Publish, PushClass), newer: (Publish, PushClass)) -> (Publish, PushClass) {
        if older.1 == .voip, newer.1 != .voip { return older }
        return (newer.0, max(older.1, newer.1))
    }

    private mutating func start(_ push: Waiting, node: String, state: inout NodeState, now: Instant) -> Send {
        nextSendID &+= 1
        inFlight[nextSendID] = (node, push)
        state.inFlightCount += 1
        state.lastSent = now
        return Send(
            id: nextSendID, node: node, publish: push.publish, pushClass: push.pushClass, attempt: push.attempt + 1,
            registration: push.registration
        )
    }

    /// The stored retry of `sent`, if attempts, its deadline and the queue allow one.
    private func retry(_ sent: Waiting, reason: String, retryAfter: Duration?, now: Instant) -> Waiting? {
        let attempt = sent.attempt + 1
        guard attempt < policy.maximumAttempts, sent.stored || queuedPushes < policy.maximumQueuedPushes else { return nil }
        var generator = DrawnRandom(draw: random)
        let delay = max(policy.retryBackoff.delay(attempt: attempt - 1, using: &generator), retryAfter ?? .zero)
        let notBefore = now.advanced(by: delay)
        guard notBefore < sent.deadline else { return nil }
        return Waiting(
            publish: sent.publish, pushClass: sent.pushClass, registration: nil, attempt: attempt, notBefore: notBefore,
            deadline: sent.deadline, replies: [], stored: true, reason: reason
        )
    }

    private mutating func release(_ waiting: Waiting) {
        queuedPushes -= 1
        if !waiting.stored { heldReplies -= waiting.replies.count }
    }

    private func stored(_ node: String, _ waiting: Waiting) -> Stored {
        Stored(
            node: node, publish: waiting.publish, pushClass: waiting.pushClass, attempt: waiting.attempt,
            notBefore: waiting.notBefore, deadline: waiting.deadline
        )
    }

    /// Forgets nodes with nothing in flight or waiting whose window has closed, once there are many. The
    /// next pass waits until the table has doubled, so a table of busy nodes is not walked on every
    /// publish: the walks cost O(1) per publish, amortized.
    private mutating func pruneIdleNodes(now: Instant) {
        guard nodes.count > pruneAbove else { return }
        let coalescingWindow = policy.coalescingWindow
        nodes = nodes.filter { _, state in
            let window = max(coalescingWindow, state.spacing)
            return state.inFlightCount > 0 || state.next != nil || (state.lastSent.map { $0.advanced(by: window) > now } ?? false)
        }
        prunes += 1
        pruneAbove = max(minimumPruneAbove, 2 * nodes.count)
    }

    private var minimumPruneAbove: Int { 4 * max(policy.maximumQueuedPushes, 1024) }
}

/// A generator that takes its numbers from a closure.
private struct DrawnRandom: RandomNumberGenerator {
    let draw: @Sendable () -> UInt64
    mutating func next() -> UInt64 { draw() }
}
