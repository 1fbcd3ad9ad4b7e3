import Foundation
import HeraldSupport
import HeraldTesting
import Testing

@testable import HeraldCore

private typealias Machine = DeliveryStateMachine<ManualClock.Instant>

private let start = ManualClock().now

private func at(_ seconds: Double) -> ManualClock.Instant { start.advanced(by: .seconds(seconds)) }

private let registration = Registration(
    node: "n", secret: "s", app: "chat", service: .apns, dialect: .p2, token: "t", deviceKey: "d", createdAt: Date(timeIntervalSince1970: 0)
)

private func publish(_ body: String? = nil, node: String = "n") -> Publish {
    Publish(node: node, publisherDomain: "example.org", secret: "s", summary: .init(messageCount: 1, lastMessageBody: body))
}

private let policy = DeliveryPolicy(
    coalescingWindow: .seconds(2),
    retryBackoff: Backoff(initialDelay: .seconds(4), maximumDelay: .seconds(4)),
    maximumAttempts: 3,
    retryDeadline: .seconds(30),
    maximumQueuedPushes: 10,
    maximumHeldReplies: 3
)

/// The send in `actions`, failing the test if there is none.
private func sent(_ actions: [Machine.Action], sourceLocation: SourceLocation = #_sourceLocation) -> Machine.Send? {
    for case .send(let send) in actions { return send }
    Issue.record("no send in \(actions)", sourceLocation: sourceLocation)
    return nil
}

/// Drives the machine with injected time and jitter (`.max`: each retry waits its full backoff step) and
/// no sleeps: every decision is read off its actions.
@Suite struct DeliveryStateMachineTests {
    @Test func theFirstPublishIsSentAtOnceAndAnsweredWithItsVerdict() throws {
        var machine = Machine(policy: policy, random: { .max })
        let send = try #require(sent(machine.publish(publish(), pushClass: .background, registration: registration, reply: 1, now: at(0))))
        #expect(send.attempt == 1)
        #expect(send.registration == registration)
        #expect(machine.verdict(.delivered, send: send.id, node: "n", now: at(0.1)) == [.reply([1], .delivered)])
    }

    @Test func aBurstIsAnsweredWithTheVerdictOnItsLastPush() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .background, registration: registration, reply: 1, now: at(0))))
        // While the first is out and within the window: both join one push due when the window ends.
        #expect(machine.publish(publish("a"), pushClass: .alert, registration: registration, reply: 2, now: at(0.5)) == [.wake(node: "n", at: at(2))])
        #expect(machine.publish(publish(), pushClass: .background, registration: registration, reply: 3, now: at(1)) == [])
        #expect(machine.heldReplies == 2)
        #expect(machine.verdict(.delivered, send: first.id, node: "n", now: at(1.2)) == [.reply([1], .delivered)])
        #expect(machine.wake(node: "n", now: at(1.5)) == [.wake(node: "n", at: at(2))], "not due yet")
        let last = try #require(sent(machine.wake(node: "n", now: at(2))))
        #expect(last.pushClass == .alert, "the most urgent class of the burst")
        #expect(last.registration == registration)
        #expect(machine.heldReplies == 0)
        #expect(machine.verdict(.tokenRemoved(reason: "Unregistered"), send: last.id, node: "n", now: at(2.1))
            == [.reply([2, 3], .tokenRemoved(reason: "Unregistered")), .forget(node: "n")])
        #expect(machine.queuedPushes == 0)
    }

    /// A stateless node's spacing (longer than the coalescing window) holds its next push back, and
    /// outlives the pruning of idle nodes that thousands of others set off.
    @Test func aNodesSpacingHoldsItsNextPushBackThroughPruning() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0), spacing: .seconds(20))))
        _ = machine.verdict(.delivered, send: first.id, node: "n", now: at(0.1))
        for index in 0..<5000 {
            let node = "other-\(index)"
            let send = try #require(sent(machine.publish(publish(node: node), pushClass: .alert, registration: registration, reply: 10 + index, now: at(3))))
            _ = machine.verdict(.delivered, send: send.id, node: node, now: at(3))
        }
        #expect(machine.prunes > 0)
        #expect(machine.publish(publish("later"), pushClass: .alert, registration: registration, reply: 2, now: at(4), spacing: .seconds(20))
            == [.wake(node: "n", at: at(20))])
        #expect(machine.wake(node: "n", now: at(19)) == [.wake(node: "n", at: at(20))], "not before the spacing ends")
        #expect(sent(machine.wake(node: "n", now: at(20)))?.publish.summary?.lastMessageBody == "later")
    }

    @Test func aPushDueWhileAnotherIsOutGoesWhenThatOneIsAnswered() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        _ = machine.publish(publish(), pushClass: .alert, registration: registration, reply: 2, now: at(1))
        #expect(machine.wake(node: "n", now: at(3)) == [], "one push in flight per node")
        #expect(machine.verdict(.delivered, send: first.id, node: "n", now: at(5)) == [.reply([1], .delivered), .wake(node: "n", at: at(5))])
        #expect(sent(machine.wake(node: "n", now: at(5))) != nil)
    }

    @Test func aRetryIsStoredBeforeItsPublisherHearsRetryingAndLaterPublishesUpdateIt() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish("old"), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        let actions = machine.verdict(.retry(reason: "ServiceUnavailable", retryAfter: nil), send: first.id, node: "n", now: at(1))
        let stored = Machine.Stored(node: "n", publish: publish("old"), pushClass: .alert, attempt: 1, notBefore: at(5), deadline: at(30))
        #expect(actions == [.store(stored, replies: [1], reason: "ServiceUnavailable"), .wake(node: "n", at: at(5))])
        #expect(machine.queuedPushes == 1)
        // Outside the window and with a retry waiting: no new vendor request, the retry carries it.
        var updated = stored
        updated.publish = publish("new")
        #expect(machine.publish(publish("new"), pushClass: .background, registration: registration, reply: 2, now: at(3))
            == [.store(updated, replies: [2], reason: "ServiceUnavailable")])
        let retry = try #require(sent(machine.wake(node: "n", now: at(5))))
        #expect(retry.attempt == 2)
        #expect(retry.publish.summary?.lastMessageBody == "new")
        #expect(retry.registration == registration, "as of the latest publish")
        #expect(machine.verdict(.delivered, send: retry.id, node: "n", now: at(5.1)) == [.reply([], .delivered), .forget(node: "n")])
    }

    @Test func withNothingLeftToTryTheReplyDoesNotSayRetrying() throws {
        var machine = Machine(policy: policy, random: { .max })
        var send = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        _ = machine.verdict(.retry(reason: "x", retryAfter: nil), send: send.id, node: "n", now: at(0))
        send = try #require(sent(machine.wake(node: "n", now: at(4))))
        _ = machine.verdict(.retry(reason: "x", retryAfter: nil), send: send.id, node: "n", now: at(4))
        send = try #require(sent(machine.wake(node: "n", now: at(8))))
        #expect(send.attempt == 3)
        #expect(machine.verdict(.retry(reason: "x", retryAfter: nil), send: send.id, node: "n", now: at(8)) == [.reply([], .notDelivered(reason: "x")), .forget(node: "n")])
        // A Retry-After past the deadline is no retry either.
        let late = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 2, now: at(20))))
        #expect(machine.verdict(.retry(reason: "TooManyRequests", retryAfter: .seconds(60)), send: late.id, node: "n", now: at(20))
            == [.reply([2], .notDelivered(reason: "TooManyRequests"))])
        #expect(machine.queuedPushes == 0)
    }

    @Test func heldRepliesAndQueuedPushesAreBounded() throws {
        var machine = Machine(policy: policy, random: { .max })
        _ = machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0))
        for reply in 2...4 { _ = machine.publish(publish(), pushClass: .alert, registration: registration, reply: reply, now: at(0.1)) }
        #expect(machine.heldReplies == 3)
        #expect(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 5, now: at(0.2)) == [.reply([5], .overloaded)])

        var queue = Machine(policy: DeliveryPolicy(coalescingWindow: .seconds(2), maximumQueuedPushes: 2), random: { .max })
        for index in 0..<3 {
            _ = queue.publish(publish(node: "n\(index)"), pushClass: .alert, registration: registration, reply: index, now: at(0))
        }
        _ = queue.publish(publish(node: "n0"), pushClass: .alert, registration: registration, reply: 10, now: at(0.1))
        _ = queue.publish(publish(node: "n1"), pushClass: .alert, registration: registration, reply: 11, now: at(0.1))
        #expect(queue.publish(publish(node: "n2"), pushClass: .alert, registration: registration, reply: 12, now: at(0.1)) == [.reply([12], .overloaded)])
        #expect(queue.queuedPushes == 2)
    }

    @Test func shuttingDownStoresTheEndsOfBurstsInsteadOfSendingThem() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        _ = machine.publish(publish("last"), pushClass: .alert, registration: registration, reply: 2, now: at(0.5))
        let stored = Machine.Stored(node: "n", publish: publish("last"), pushClass: .alert, attempt: 0, notBefore: at(2), deadline: at(30.5))
        #expect(machine.shutDown() == [.store(stored, replies: [2], reason: "Herald restarting")])
        #expect(machine.heldReplies == 0)
        #expect(machine.verdict(.delivered, send: first.id, node: "n", now: at(1)) == [.reply([1], .delivered)])
    }

    @Test func restoredPushesGoWhenDueAndStaleOnesAreDropped() throws {
        var machine = Machine(policy: policy, random: { .max })
        let due = Machine.Stored(node: "a", publish: publish(node: "a"), pushClass: .alert, attempt: 2, notBefore: at(-5), deadline: at(60))
        let stale = Machine.Stored(node: "b", publish: publish(node: "b"), pushClass: .alert, attempt: 1, notBefore: at(-90), deadline: at(-1))
        #expect(machine.restore([due, stale], now: at(0)) == [.wake(node: "a", at: at(-5)), .forget(node: "b")])
        let send = try #require(sent(machine.wake(node: "a", now: at(0))))
        #expect(send.attempt == 3)
        #expect(machine.verdict(.registrationGone, send: send.id, node: "a", now: at(0)) == [.reply([], .unknownNode), .forget(node: "a")])
    }

    @Test func aRetryFailingWhileNewerNewsWaitsHandsItsPublishersToThatPush() throws {
        var machine = Machine(policy: policy, random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .voip, registration: registration, reply: 1, now: at(0))))
        _ = machine.publish(publish("newer"), pushClass: .background, registration: registration, reply: 2, now: at(0.5))
        #expect(machine.verdict(.retry(reason: "x", retryAfter: nil), send: first.id, node: "n", now: at(1)) == [])
        #expect(machine.heldReplies == 2)
        let last = try #require(sent(machine.wake(node: "n", now: at(2))))
        #expect(last.pushClass == .voip, "the failed call is not lost to a newer message")
        #expect(last.publish == publish())
        #expect(machine.verdict(.delivered, send: last.id, node: "n", now: at(2)) == [.reply([2, 1], .delivered)])
    }

    @Test func withoutAWindowEveryPublishIsItsOwnPushEvenWhileAnotherIsOut() throws {
        var machine = Machine(policy: DeliveryPolicy(coalescingWindow: .zero), random: { .max })
        let first = try #require(sent(machine.publish(publish("a"), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        let second = try #require(sent(machine.publish(publish("b"), pushClass: .alert, registration: registration, reply: 2, now: at(0))))
        #expect(first.id != second.id)
        #expect(machine.verdict(.delivered, send: second.id, node: "n", now: at(0.1)) == [.reply([2], .delivered)])
        #expect(machine.verdict(.tokenRemoved(reason: "Unregistered"), send: first.id, node: "n", now: at(0.2))
            == [.reply([1], .tokenRemoved(reason: "Unregistered")), .forget(node: "n")])
        #expect(machine.queuedPushes == 0)
    }

    @Test func aStoredPushIsForgottenOnlyWhileNoNewerOneIsStored() throws {
        var machine = Machine(policy: DeliveryPolicy(coalescingWindow: .zero, retryBackoff: policy.retryBackoff), random: { .max })
        let first = try #require(sent(machine.publish(publish(), pushClass: .alert, registration: registration, reply: 1, now: at(0))))
        _ = machine.verdict(.retry(reason: "x", retryAfter: nil), send: first.id, node: "n", now: at(0))
        let retry = try #require(sent(machine.wake(node: "n", now: at(4))))
        let second = try #require(sent(machine.publish(publish("b"), pushClass: .alert, registration: registration, reply: 2, now: at(4.5))))
        #expect(machine.verdict(.retry(reason: "y", retryAfter: nil), send: second.id, node: "n", now: at(5)).contains { if case .store = $0 { true } else { false } })
        #expect(machine.verdict(.delivered, send: retry.id, node: "n", now: at(5.1)) == [.reply([], .delivered)], "the newer stored retry stays")
        #expect(machine.queuedPushes == 1)
    }

    @Test func aBurstTakesTheNewestNewsAtItsMostUrgentClassButNeverDropsACall() {
        let message = (publish("hi"), PushClass.alert)
        let quiet = (publish(), PushClass.background)
        let call = (publish("call"), PushClass.voip)
        #expect(Machine.merge(older: quiet, newer: message) == (message.0, .alert))
        #expect(Machine.merge(older: message, newer: quiet) == (quiet.0, .alert))
        #expect(Machine.merge(older: message, newer: call) == (call.0, .voip))
        #expect(Machine.merge(older: call, newer: message) == (call.0, .voip))
    }

    @Test func idleNodesAreForgottenWithoutWalkingTheTableOnEveryPublish() throws {
        var machine = Machine(policy: DeliveryPolicy(coalescingWindow: .seconds(1), maximumQueuedPushes: 10), random: { .max })
        // 20,000 nodes within one window: none can be forgotten yet.
        for index in 0..<20_000 {
            let send = try #require(sent(machine.publish(publish(node: "n\(index)"), pushClass: .alert, registration: registration, reply: index, now: at(0))))
            _ = machine.verdict(.delivered, send: send.id, node: "n\(index)", now: at(0))
        }
        #expect(machine.nodes.count == 20_000)
        #expect(machine.prunes <= 3, "walked \(machine.prunes) times")
        // Once the window has passed, the next walk forgets them.
        for index in 0..<20_001 {
            _ = machine.publish(publish(node: "later\(index)"), pushClass: .alert, registration: registration, reply: index, now: at(5))
            if machine.nodes.count < 20_000 { break }
        }
        #expect(machine.nodes.count < 20_000)
    }

    @Test func aRememberedNodeHoldsNoPushOfItsOwnOnceItsPushIsAnswered() throws {
        // Every node pushed to lately is remembered: with a million registrations that is tens of thousands.
        #expect(MemoryLayout<Machine.NodeState>.stride <= 64, "\(MemoryLayout<Machine.NodeState>.stride) bytes per node")
        #expect(MemoryLayout<Machine.Waiting>.stride > 64, "the pushes this keeps out of the node table are larger")
        var machine = Machine(policy: DeliveryPolicy(coalescingWindow: .zero), random: { .max })
        var sends: [Machine.Send] = []
        for index in 0..<1_000 {
            sends.append(try #require(sent(machine.publish(publish(node: "n\(index)"), pushClass: .alert, registration: registration, reply: index, now: at(0)))))
        }
        #expect(machine.pushesInFlight == 1_000)
        // A verdict names its node too: one for another node's push is ignored, and keeps that push.
        #expect(machine.verdict(.delivered, send: sends[0].id, node: "n1", now: at(0)) == [])
        #expect(machine.pushesInFlight == 1_000)
        for (index, send) in sends.enumerated() {
            #expect(machine.verdict(.delivered, send: send.id, node: send.node, now: at(0)) == [.reply([index], .delivered)])
        }
        #expect(machine.pushesInFlight == 0)
        // With no window, an answered node has nothing to remember (with one, it stays: the test below).
        #expect(machine.nodes.isEmpty)
        // Each push is answered once.
        #expect(machine.verdict(.delivered, send: sends[0].id, node: sends[0].node, now: at(0)) == [])
        // And a node whose push is answered may be pushed to again at once (no window).
        let again = try #require(sent(machine.publish(publish(node: "n0"), pushClass: .alert, registration: registration, reply: 5_000, now: at(0))))
        #expect(machine.pushesInFlight == 1)
        #expect(machine.verdict(.retry(reason: "busy", retryAfter: nil), send: again.id, node: "n0", now: at(0)).contains { action in
            if case .store = action { true } else { false }
        })
        #expect(machine.pushesInFlight == 0)
    }

    @Test func aVerdictForAnUnknownSendChangesNothing() {
        var machine = Machine(policy: policy, random: { .max })
        #expect(machine.verdict(.delivered, send: 99, node: "n", now: at(0)) == [])
        #expect(machine.wake(node: "n", now: at(0)) == [])
    }
}
