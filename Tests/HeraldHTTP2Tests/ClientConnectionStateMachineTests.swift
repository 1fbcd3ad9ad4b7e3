@testable import HeraldHTTP2
import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing

/// The connection's rules, event by event, with no sockets: `Pending` is a plain string here.
@Suite struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine<String>

    static func machine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        var configuration = Machine.Configuration()
        configure(&configuration)
        return Machine(configuration: configuration)
    }

    /// A machine that has seen the server's SETTINGS.
    static func active(maxConcurrentStreams: Int? = nil, _ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        var machine = machine(configure)
        let settings = maxConcurrentStreams.map { [HTTP2Setting(parameter: .maxConcurrentStreams, value: $0)] } ?? []
        _ = machine.receivedSettings(settings)
        return machine
    }

    static func status(_ code: Int) -> HPACKHeaders { HPACKHeaders([(":status", String(code))]) }

    // MARK: Summaries of actions, so expectations read as what goes on the wire.

    static func sent(_ actions: [Machine.Action]) -> [Int32] {
        actions.compactMap { if case .send(_, let streamID, _) = $0 { Int32(streamID) } else { nil } }
    }

    static func succeeded(_ actions: [Machine.Action]) -> [(String, Int, String)] {
        actions.compactMap { if case .succeed(_, let pending, let response) = $0 { (pending, response.status, String(buffer: response.body)) } else { nil } }
    }

    static func failed(_ actions: [Machine.Action]) -> [(String, Machine.Failure)] {
        actions.compactMap { if case .fail(_, let pending, let failure) = $0 { (pending, failure) } else { nil } }
    }

    static func windowUpdates(_ actions: [Machine.Action]) -> [(Int32, Int)] {
        actions.compactMap { if case .windowUpdate(let streamID, let increment) = $0 { (Int32(streamID), increment) } else { nil } }
    }

    static func retired(_ actions: [Machine.Action]) -> [HTTP2RetireReason] {
        actions.compactMap { if case .retire(let reason) = $0 { reason } else { nil } }
    }

    static func pings(_ actions: [Machine.Action]) -> [UInt64] {
        actions.compactMap { if case .ping(let data) = $0 { data } else { nil } }
    }

    static func closes(_ actions: [Machine.Action]) -> Bool {
        actions.contains { if case .close = $0 { true } else { false } }
    }

    // MARK: Start-up and the server's stream limit

    @Test func requestsWaitForTheServersSettingsThenGoOut() {
        var machine = Self.machine()
        #expect(machine.start(0, "a").isEmpty, "nothing is written before the server's SETTINGS")
        #expect(machine.start(1, "b").isEmpty)
        let actions = machine.receivedSettings([HTTP2Setting(parameter: .maxConcurrentStreams, value: 100)])
        #expect(actions.contains { if case .ready = $0 { true } else { false } })
        #expect(Self.sent(actions) == [1, 3])
    }

    @Test func theServersConcurrentStreamLimitIsHonouredAsItChanges() {
        var machine = Self.active(maxConcurrentStreams: 2)
        var sent: [Int32] = []
        for id in 0..<5 { sent += Self.sent(machine.start(UInt64(id), "r\(id)")) }
        #expect(sent == [1, 3], "two streams at most; three wait")
        #expect(machine.queuedRequests == 3)

        // The server lowers the limit to 1 (as APNs does after an error): an answer frees no slot.
        _ = machine.receivedSettings([HTTP2Setting(parameter: .maxConcurrentStreams, value: 1)])
        #expect(Self.sent(machine.receivedHeaders(1, Self.status(200), endStream: true)).isEmpty)
        #expect(Self.sent(machine.receivedHeaders(3, Self.status(200), endStream: true)) == [5])

        // And raises it again: the queue drains up to the new limit.
        #expect(Self.sent(machine.receivedSettings([HTTP2Setting(parameter: .maxConcurrentStreams, value: 10)])) == [7, 9])
        #expect(machine.queuedRequests == 0)
        #expect(machine.openStreams == 3)
    }

    /// Hundreds wait behind a server's stream limit: each is found pending while it waits or is on the
    /// wire, and not once answered or timed out, whichever of them leaves first.
    @Test func pendingRequestsAreKnownThroughALongQueue() {
        var machine = Self.active(maxConcurrentStreams: 10)
        for id in 0..<500 { _ = machine.start(UInt64(id), "r\(id)") }
        #expect(machine.queuedRequests == 490)
        #expect((0..<500).allSatisfy { machine.isPending(UInt64($0)) })
        #expect(!machine.isPending(500))
        // Every fifth queued request times out from the middle of the queue; the rest keep their order.
        let timedOut = Set(stride(from: UInt64(499), through: 10, by: -5))
        let failures = timedOut.sorted(by: >).flatMap { Self.failed(machine.timedOut($0)).map(\.1) }
        #expect(failures == Array(repeating: .notProcessed, count: timedOut.count))
        #expect(Self.failed(machine.timedOut(499)).isEmpty, "already gone")
        // The ten on the wire are answered, which opens ten more, in queue order.
        var opened: [Int32] = []
        for stream in stride(from: 1, through: 19, by: 2) {
            opened += Self.sent(machine.receivedHeaders(HTTP2StreamID(stream), Self.status(200), endStream: true))
        }
        #expect(opened == Array(stride(from: 21, through: 39, by: 2)))
        let answered = Set((0..<10).map(UInt64.init))
        let wrong = (0..<UInt64(500)).filter { machine.isPending($0) == (answered.contains($0) || timedOut.contains($0)) }
        #expect(wrong.isEmpty)
        #expect(machine.queuedRequests + machine.openStreams == 500 - answered.count - timedOut.count)
    }

    // MARK: Receive windows

    @Test func theConnectionWindowIsWidenedAtThePrefaceAndToppedUpAtHalf() {
        var machine = Self.active { $0.connectionWindow = 1_000_000 }
        #expect(Self.windowUpdates(machine.prefaceSent()).map(\.1) == [1_000_000 - 65_535])
        #expect(Self.windowUpdates(machine.inboundWindowChanged(.rootStream, size: 600_000)).isEmpty, "more than half is left")
        let update = Self.windowUpdates(machine.inboundWindowChanged(.rootStream, size: 499_000))
        #expect(update.count == 1)
        #expect(update.first?.0 == 0 && update.first?.1 == 501_000, "back to the full target")
    }

    @Test func streamWindowsAreToppedUpOnlyForOpenStreams() {
        var machine = Self.active { $0.streamWindow = 100_000 }
        _ = machine.start(0, "a")
        #expect(Self.windowUpdates(machine.inboundWindowChanged(1, size: 40_000)).map(\.1) == [60_000])
        #expect(Self.windowUpdates(machine.inboundWindowChanged(3, size: 1)).isEmpty, "stream 3 is not ours")
    }

    @Test func aBodyOverTheLimitIsReadButNotKept() {
        var machine = Self.active { $0.maximumResponseBytes = 10 }
        _ = machine.start(0, "a")
        _ = machine.receivedHeaders(1, Self.status(400), endStream: false)
        _ = machine.receivedData(1, ByteBuffer(string: "0123456"), endStream: false)
        let done = Self.succeeded(machine.receivedData(1, ByteBuffer(string: "789abcdef"), endStream: true))
        #expect(done.count == 1)
        #expect(done.first?.2 == "0123456789")
    }

    // MARK: Responses

    @Test func informationalHeadersAreSkipped() {
        var machine = Self.active()
        _ = machine.start(0, "a")
        #expect(Self.succeeded(machine.receivedHeaders(1, Self.status(100), endStream: false)).isEmpty)
        #expect(Self.succeeded(machine.receivedHeaders(1, Self.status(103), endStream: false)).isEmpty)
        let done = Self.succeeded(machine.receivedHeaders(1, Self.status(410), endStream: false) + machine.receivedData(1, ByteBuffer(string: "{}"), endStream: true))
        #expect(done.map(\.1) == [410])
    }

    @Test func headersWithoutStatusOrDataBeforeHeadersAreMalformed() {
        var machine = Self.active()
        _ = machine.start(0, "a")
        _ = machine.start(1, "b")
        #expect(Self.failed(machine.receivedHeaders(1, HPACKHeaders([("x", "y")]), endStream: true)).map(\.1) == [.lost(.malformedResponse)])
        #expect(Self.failed(machine.receivedData(3, ByteBuffer(string: "x"), endStream: true)).map(\.1) == [.lost(.malformedResponse)])
    }

    @Test func refusedStreamsAreNotProcessedOtherResetsMayBe() {
        var machine = Self.active()
        _ = machine.start(0, "a")
        _ = machine.start(1, "b")
        #expect(Self.failed(machine.receivedReset(1, .refusedStream)).map(\.1) == [.notProcessed])
        #expect(Self.failed(machine.receivedReset(3, .cancel)).map(\.1) == [.lost(.streamReset)])
    }

    // MARK: GOAWAY

    @Test func goAwayRetiresAndGivesBackWhatTheServerDidNotProcess() {
        var machine = Self.active(maxConcurrentStreams: 3)
        for id in 0..<4 { _ = machine.start(UInt64(id), "r\(id)") }  // streams 1, 3, 5 open; r3 queued
        let actions = machine.receivedGoAway(lastStreamID: 1)
        #expect(Self.retired(actions) == [.goAway])
        let failed = Self.failed(actions)
        #expect(Set(failed.map(\.0)) == ["r1", "r2", "r3"], "streams 3 and 5 and the queued request")
        #expect(failed.allSatisfy { $0.1 == .notProcessed })
        #expect(!Self.closes(actions), "stream 1 is still being answered")
        #expect(!machine.isAcceptingRequests)
        #expect(Self.failed(machine.start(9, "late")).map(\.1) == [.notProcessed])
        let last = machine.receivedHeaders(1, Self.status(200), endStream: true)
        #expect(Self.succeeded(last).map(\.0) == ["r0"])
        #expect(Self.closes(last), "closed once its last stream is answered")
    }

    // MARK: Stream ids

    @Test func theConnectionRetiresAtItsLastStreamIDAndNeverReusesOne() {
        var machine = Self.active { $0.lastStreamID = 7 }
        var sent: [Int32] = []
        var actions: [Machine.Action] = []
        for id in 0..<4 {
            actions = machine.start(UInt64(id), "r\(id)")
            sent += Self.sent(actions)
        }
        #expect(sent == [1, 3, 5, 7])
        #expect(Self.retired(actions) == [.streamIDsExhausted])
        #expect(Self.failed(machine.start(4, "r4")).map(\.1) == [.notProcessed], "goes to another connection")
    }

    @Test func nearTheEndOfTheRangeNothingTraps() {
        var machine = Self.active { $0.firstStreamID = Int32.max - 4; $0.lastStreamID = Int32.max }
        var sent: [Int32] = []
        for id in 0..<6 { sent += Self.sent(machine.start(UInt64(id), "r\(id)")) }
        #expect(sent == [Int32.max - 4, Int32.max - 2, Int32.max])
        #expect(machine.retireReason == .streamIDsExhausted)
    }

    @Test func queuedRequestsMoveWhenStreamIDsRunOut() {
        var machine = Self.active(maxConcurrentStreams: 1) { $0.lastStreamID = 3 }
        _ = machine.start(0, "a")
        _ = machine.start(1, "b")
        _ = machine.start(2, "c")
        let actions = machine.receivedHeaders(1, Self.status(200), endStream: true)
        #expect(Self.sent(actions) == [3], "b takes the last id")
        #expect(Self.failed(actions).map(\.0) == ["c"], "c goes elsewhere")
    }

    // MARK: Liveness

    @Test func aTimeoutResetsTheStreamAndPingsAndRepeatedTimeoutsRetire() {
        var machine = Self.active { $0.retireAfterTimeouts = 3 }
        for id in 0..<4 { _ = machine.start(UInt64(id), "r\(id)") }
        let first = machine.timedOut(0)
        #expect(Self.failed(first).map(\.1) == [.lost(.timedOut)])
        #expect(first.contains { if case .resetStream(1) = $0 { true } else { false } })
        let ping = Self.pings(first)
        #expect(ping.count == 1, "a timeout asks whether the peer is alive")
        #expect(Self.pings(machine.timedOut(1)).isEmpty, "one PING at a time")
        _ = machine.receivedPing(ping[0], ack: true)
        #expect(Self.retired(machine.timedOut(2)) == [.requestTimeouts])
        #expect(!machine.isAcceptingRequests)
    }

    @Test func anAnswerResetsTheTimeoutCount() {
        var machine = Self.active { $0.retireAfterTimeouts = 2 }
        for id in 0..<3 { _ = machine.start(UInt64(id), "r\(id)") }
        _ = machine.timedOut(0)
        _ = machine.receivedHeaders(3, Self.status(200), endStream: true)
        #expect(Self.retired(machine.timedOut(2)).isEmpty)
    }

    @Test func anUnansweredPingRetiresAndFailsWhatIsOnTheConnection() {
        var machine = Self.active(maxConcurrentStreams: 1)
        _ = machine.start(0, "open")
        _ = machine.start(1, "queued")
        let ping = Self.pings(machine.idleCheck())
        #expect(ping.count == 1, "nothing was heard since the last check")
        let actions = machine.pingTimedOut(ping[0])
        #expect(Self.retired(actions) == [.pingTimeout])
        let failed = Self.failed(actions)
        #expect(failed.first { $0.0 == "open" }?.1 == .lost(.connectionLost))
        #expect(failed.first { $0.0 == "queued" }?.1 == .notProcessed)
        #expect(Self.closes(actions))
    }

    @Test func anAnsweredPingOrRecentTrafficKeepsTheConnection() {
        var machine = Self.active()
        machine.receivedFrame()
        #expect(Self.pings(machine.idleCheck()).isEmpty, "a frame arrived since the last check")
        let ping = Self.pings(machine.idleCheck())
        #expect(ping.count == 1)
        _ = machine.receivedPing(ping[0], ack: true)
        #expect(machine.pingTimedOut(ping[0]).isEmpty)
        #expect(machine.isAcceptingRequests)
    }

    @Test func aQueuedRequestThatTimesOutWasNeverSent() {
        var machine = Self.active(maxConcurrentStreams: 1)
        _ = machine.start(0, "open")
        _ = machine.start(1, "queued")
        let actions = machine.timedOut(1)
        #expect(Self.failed(actions).map(\.1) == [.notProcessed])
        #expect(Self.pings(actions).isEmpty, "nothing was waiting on the peer")
    }

    @Test func losingTheConnectionFailsEverythingOnce() {
        var machine = Self.active(maxConcurrentStreams: 1)
        _ = machine.start(0, "open")
        _ = machine.start(1, "queued")
        let actions = machine.connectionLost()
        #expect(Self.retired(actions) == [.closed])
        #expect(Self.failed(actions).count == 2)
        #expect(machine.connectionLost().isEmpty)
    }

    @Test func afterATimeoutNewRequestsWaitUnsentUntilThePeerAnswersItsPing() {
        var machine = Self.active()
        _ = machine.start(0, "slow")
        let ping = Self.pings(machine.timedOut(0))
        #expect(Self.sent(machine.start(1, "next")).isEmpty, "not written to a connection that may be dead")
        #expect(Self.sent(machine.receivedPing(ping[0], ack: true)) == [3], "the peer is alive: it goes out")

        var dead = Self.active()
        _ = dead.start(0, "slow")
        let unanswered = Self.pings(dead.timedOut(0))
        _ = dead.start(1, "next")
        #expect(Self.failed(dead.pingTimedOut(unanswered[0])).map(\.1) == [.notProcessed], "moves to another connection")
    }
}
