import Foundation
import HeraldHTTP2
import HeraldTesting
import MockVendors
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization
import Glibc
import Testing

final class ArrivalFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// The vendor HTTP/2 client against a real HTTP/2-over-TLS server: stream bookkeeping, timeouts, and
/// what happens when the server goes away.
@Suite(.timeLimit(.minutes(1))) struct HTTP2ClientTests {
    /// For requests that only prepare or follow the one under test: long enough for a machine busy with
    /// the rest of the suite (a fresh CI clone's first handshakes took seconds).
    static let patient: Duration = .seconds(60)

    static func client(
        port: Int,
        connections: Int = 2,
        timeout: Duration = Self.patient,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ configure: (inout HTTP2Client.Configuration) -> Void = { _ in }
    ) throws -> HTTP2Client {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ExampleKeys.tlsCertificatePath)
        var configuration = HTTP2Client.Configuration(host: "127.0.0.1", port: port, tls: tls, connections: connections, requestTimeout: timeout)
        // The handshake may take its time on a machine whose two cores the whole suite shares: a 10 s
        // connect timeout ran out there in the suite's first seconds. Tests of connect timeouts set theirs.
        configuration.connectTimeout = Self.patient
        configure(&configuration)
        return try HTTP2Client(configuration: configuration, eventLoopGroup: group)
    }

    static func server(
        settings: HTTP2Settings? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ answer: @escaping @Sendable (MockHTTPRequest) -> MockHTTPResponse
    ) async throws -> MockHTTP2Server {
        if let settings {
            return try await MockHTTP2Server.start(
                certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, group: group, settings: settings, handler: answer
            )
        }
        return try await MockHTTP2Server.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, group: group, handler: answer)
    }

    @Test func concurrentRequestsEachGetTheirOwnAnswer() async throws {
        // Answers echo the path and the body, after a delay that varies, so answers come back out of
        // order and any mix-up between streams shows.
        // A volume test: on a loop of its own (see withOwnEventLoop).
        try await withOwnEventLoop { group in
            let server = try await Self.server(group: group) { request in
                MockHTTPResponse(
                    status: 200 + request.body.count % 7,
                    headers: [("x-path", request.path)],
                    body: Data((request.path + "|" + String(decoding: request.body, as: UTF8.self)).utf8),
                    delayMilliseconds: request.body.count % 5
                )
            }
            let client = try Self.client(port: server.port, group: group)
            let answers = try await withThrowingTaskGroup(of: (Int, HTTP2Response).self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let body = String(repeating: "b", count: index % 40)
                        let response = try await client.execute(HTTP2Request(path: "/item/\(index)", headers: [("x-index", "\(index)")], body: ByteBuffer(string: body)))
                        return (index, response)
                    }
                }
                return try await group.reduce(into: [Int: HTTP2Response]()) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 500)
            for (index, response) in answers {
                let body = String(repeating: "b", count: index % 40)
                #expect(response.status == 200 + body.count % 7)
                #expect(response.headers.first(name: "x-path") == "/item/\(index)")
                #expect(String(buffer: response.body) == "/item/\(index)|\(body)")
            }
            await client.shutdown()
            await server.stop()
        }
    }

    /// Slot `i` connects on loop `i % loops`; a request made on a loop goes to that loop's connection,
    /// so its whole exchange stays on one thread.
    @Test func aRequestMadeOnALoopGoesToThatLoopsConnection() async throws {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try await Self.server { _ in MockHTTPResponse(status: 200) }
        let client = try Self.client(port: server.port, connections: 2, group: loops)
        // Off the loops, requests go round the slots: both connect.
        var ports = Set<String>()
        for _ in 0..<4 { ports.insert(try await client.execute(HTTP2Request(path: "/warm-up")).headers.first(name: "x-mock-connection") ?? "") }
        #expect(ports.count == 2)
        var portOfLoop: [String] = []
        for loop in loops.makeIterator() {
            let answers = try await loop.flatSubmit {
                EventLoopFuture.whenAllSucceed((0..<20).map { index in client.executeFuture(HTTP2Request(path: "/\(index)")) }, on: loop)
            }.get()
            let used = Set(answers.map { $0.headers.first(name: "x-mock-connection") ?? "" })
            #expect(used.count == 1, "every request from one loop on one connection")
            portOfLoop += used
        }
        #expect(Set(portOfLoop).count == 2, "each loop its own")
        await client.shutdown()
        await server.stop()
        try await loops.shutdownGracefully()
    }

    @Test func aSlowAnswerTimesOutAndTheConnectionServesTheNextRequest() async throws {
        let server = try await Self.server { request in
            MockHTTPResponse(status: 200, body: Data("ok".utf8), delayMilliseconds: request.path == "/slow" ? 20_000 : 0)
        }
        // Long enough that a loaded machine answers /fast in time, far shorter than /slow's delay.
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(5))
        // Connected first, so /slow is written at once and its whole timeout is spent waiting for the answer.
        #expect(try await client.execute(HTTP2Request(path: "/warm-up", timeout: Self.patient)).status == 200)
        await #expect(throws: HTTP2ClientError.timedOut) {
            _ = try await client.execute(HTTP2Request(path: "/slow"))
        }
        let next = try await client.execute(HTTP2Request(path: "/fast", timeout: Self.patient))
        #expect(next.status == 200)
        #expect(String(buffer: next.body) == "ok")
        await client.shutdown()
        await server.stop()
    }

    @Test func aConnectionLostMidRequestFailsItsRequestsAndTheNextOneReconnects() async throws {
        let waitingArrived = ArrivalFlag()
        let server = try await Self.server { request in
            switch request.path {
            case "/drop": return MockHTTPResponse(status: 200, dropsConnection: true)
            case "/waiting":
                waitingArrived.set()
                return MockHTTPResponse(status: 200, delayMilliseconds: 20_000)
            default: return MockHTTPResponse(status: 200)
            }
        }
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(30))
        #expect(try await client.execute(HTTP2Request(path: "/first")).status == 200)
        let started = ContinuousClock.now
        let waiting = Task { try await client.execute(HTTP2Request(path: "/waiting")) }
        #expect(await eventually { waitingArrived.value }, "the server holds /waiting before the connection drops")
        let dropped = await #expect(throws: HTTP2ClientError.self) {
            _ = try await client.execute(HTTP2Request(path: "/drop"))
        }
        #expect(dropped?.mayHaveBeenProcessed == true, "\(String(describing: dropped))")
        let lost = await #expect(throws: HTTP2ClientError.self, "a request in flight on the lost connection fails too") {
            _ = try await waiting.value
        }
        #expect(lost == .connectionLost)
        #expect(ContinuousClock.now - started < .seconds(10), "failed when the connection dropped, not when the answer was due (20 s)")
        #expect(try await client.execute(HTTP2Request(path: "/after")).status == 200, "a new connection replaces the lost one")
        await client.shutdown()
        await server.stop()
    }

    @Test func afterGoAwayTheNextRequestGoesToANewConnection() async throws {
        let server = try await Self.server { request in MockHTTPResponse(status: 200, goesAway: request.path == "/bye") }
        let client = try Self.client(port: server.port, connections: 1)
        let last = try await client.execute(HTTP2Request(path: "/bye"))
        #expect(last.status == 200, "the stream GOAWAY names as processed is answered")
        let before = try #require(last.headers.first(name: "x-mock-connection"))
        // The client learns of GOAWAY from the frame after the answer; give it the moment it takes.
        var after = before
        let moved = await eventually {
            guard let response = try? await client.execute(HTTP2Request(path: "/next")) else { return false }
            #expect(response.status == 200)
            after = response.headers.first(name: "x-mock-connection") ?? before
            return after != before
        }
        #expect(moved, "requests after GOAWAY use a new connection")
        #expect(await eventually { server.openConnections == 1 }, "the retired connection is closed once its requests are answered")
        await client.shutdown()
        await server.stop()
    }

    @Test func aServerThatIsNotThereFailsPromptly() async throws {
        // A port bound but not listening refuses connections, and no other test can take it meanwhile.
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let client = try Self.client(port: port, connections: 1, timeout: .seconds(30))
        let started = ContinuousClock.now
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await client.shutdown()
    }

    @Test func requestsAfterShutdownFail() async throws {
        let server = try await Self.server { _ in MockHTTPResponse(status: 200) }
        let client = try Self.client(port: server.port)
        await client.shutdown()
        await #expect(throws: HTTP2ClientError.shutDown) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        await server.stop()
    }

    // MARK: Volume: windows, limits, refusals

    @Test func tenMegabytesOfResponseBodiesOverOneConnection() async throws {
        // Each connection could once receive 65,535 bytes of bodies in its whole life.
        try await withOwnEventLoop { group in
        let answer = Data(repeating: UInt8(ascii: "x"), count: 16 * 1024)
        let server = try await Self.server(group: group) { _ in MockHTTPResponse(status: 200, body: answer) }
        let client = try Self.client(port: server.port, connections: 1, timeout: Self.patient, group: group)
        let requests = 640  // 10 MiB
        let (bytes, connections) = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var bytes = 0
            var connections: Set<String> = []
            for index in 0..<requests {
                // At most 100 in flight: the volume moves through the windows, not around them.
                if index >= 100, let (size, connection) = try await group.next() {
                    bytes += size
                    connections.insert(connection)
                }
                group.addTask {
                    let response = try await client.execute(HTTP2Request(path: "/\(index)"))
                    return (response.body.readableBytes, response.headers.first(name: "x-mock-connection") ?? "")
                }
            }
            for try await (size, connection) in group {
                bytes += size
                connections.insert(connection)
            }
            return (bytes, connections)
        }
        #expect(bytes == requests * answer.count)
        #expect(connections.count == 1, "all on one connection")
        await client.shutdown()
        await server.stop()
        }
    }

    @Test func aBodyLargerThanTheStreamWindowArrives() async throws {
        // 3 MB on one stream: the stream window (1 MiB) must be given back while it arrives.
        let server = try await Self.server { request in
            MockHTTPResponse(status: 200, body: Data(repeating: 0x61, count: request.path == "/big" ? 3_000_000 : 2))
        }
        let client = try Self.client(port: server.port, connections: 1, timeout: Self.patient)
        let big = try await client.execute(HTTP2Request(path: "/big"))
        #expect(big.status == 200)
        #expect(big.body.readableBytes == 64 * 1024, "kept up to the response limit")
        #expect(try await client.execute(HTTP2Request(path: "/small")).body.readableBytes == 2, "the connection goes on")
        await client.shutdown()
        await server.stop()
    }

    @Test func requestBodiesFitASmallServerWindow() async throws {
        // A 5 KB VoIP payload against a server that grants 1,000 bytes at a time.
        let server = try await Self.server(settings: [
            HTTP2Setting(parameter: .initialWindowSize, value: 1_000),
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
        ]) { request in
            MockHTTPResponse(status: 200, body: Data("\(request.body.count):\(request.body.allSatisfy { $0 == 0x76 })".utf8))
        }
        let client = try Self.client(port: server.port, connections: 1)
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let body = ByteBuffer(repeating: 0x76, count: 5_000)
                    return String(buffer: try await client.execute(HTTP2Request(path: "/voip", body: body)).body)
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(answers == Array(repeating: "5000:true", count: 20))
        await client.shutdown()
        await server.stop()
    }

    @Test func theServersStreamLimitIsHonoured() async throws {
        // A server allowing one stream at a time: more would be a protocol violation it refuses.
        let server = try await Self.server(settings: [HTTP2Setting(parameter: .maxConcurrentStreams, value: 1)]) { _ in
            MockHTTPResponse(status: 200, delayMilliseconds: 1)
        }
        // Answered one after another: the timeout allows for a machine busy with other tests.
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(30))
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<30 { group.addTask { try await client.execute(HTTP2Request(path: "/\(index)")).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 30))
        await client.shutdown()
        await server.stop()
    }

    @Test func aRefusedStreamIsSentAgainOnAnotherConnection() async throws {
        let attempts = Counter()
        let server = try await Self.server { _ in
            attempts.increment() == 1 ? MockHTTPResponse(status: 200, refusesStream: true) : MockHTTPResponse(status: 200, body: Data("ok".utf8))
        }
        let events = EventLog()
        let client = try Self.client(port: server.port, connections: 2) { $0.onEvent = { events.append($0) } }
        let response = try await client.execute(HTTP2Request(path: "/once"))
        #expect(String(buffer: response.body) == "ok")
        #expect(attempts.value == 2, "refused once, answered once")
        #expect(events.count(of: .requestRerouted) == 1)
        await client.shutdown()
        await server.stop()
    }

    /// Refused by every connection: tried once per connection and once more, then given up as
    /// `unavailable`, never sent again after that.
    @Test func aStreamRefusedEverywhereIsTriedOncePerConnectionThenUnavailable() async throws {
        let attempts = Counter()
        let server = try await Self.server { _ in
            _ = attempts.increment()
            return MockHTTPResponse(status: 200, refusesStream: true)
        }
        let events = EventLog()
        let client = try Self.client(port: server.port, connections: 2) { $0.onEvent = { events.append($0) } }
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/never"))
        }
        #expect(attempts.value == 3, "two connections, and one more try")
        #expect(events.count(of: .requestRerouted) == 2)
        await client.shutdown()
        await server.stop()
    }

    @Test func informationalAnswersAreNotTakenAsFinal() async throws {
        let server = try await Self.server { _ in MockHTTPResponse(status: 410, body: Data(#"{"reason":"Unregistered"}"#.utf8), informational: true) }
        let client = try Self.client(port: server.port, connections: 1)
        let response = try await client.execute(HTTP2Request(path: "/"))
        #expect(response.status == 410)
        #expect(String(buffer: response.body).contains("Unregistered"))
        await client.shutdown()
        await server.stop()
    }

    // MARK: Liveness

    static func silencingServer() async throws -> MockHTTP2Server {
        try await Self.server { request in
            request.path.hasPrefix("/hang") ? MockHTTPResponse(status: 200, silencesConnection: true) : MockHTTPResponse(status: 200, body: Data("ok".utf8))
        }
    }

    @Test func afterOneTimeoutOnASilentConnectionRequestsMoveToANewOne() async throws {
        let server = try await Self.silencingServer()
        let events = EventLog()
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(6)) {
            $0.pingTimeout = .seconds(3)
            $0.onEvent = { events.append($0) }
        }
        let first = try await client.execute(HTTP2Request(path: "/before", timeout: Self.patient))
        await #expect(throws: HTTP2ClientError.timedOut) {
            _ = try await client.execute(HTTP2Request(path: "/hang"))
        }
        // Sent while the PING that followed the timeout is unanswered: it waits unsent, then moves. Had
        // it been written to the silent connection it would time out instead of being answered. A busy
        // machine can stall this task past the PING's timeout; the request then finds the connection
        // retired already and goes straight to a new one, with nothing to move.
        let retiredBeforeNext = events.count(of: .retired(.pingTimeout)) == 1
        let next = try await client.execute(HTTP2Request(path: "/next", timeout: Self.patient))
        #expect(String(buffer: next.body) == "ok")
        #expect(next.headers.first(name: "x-mock-connection") != first.headers.first(name: "x-mock-connection"), "a new connection")
        #expect(events.count(of: .pingTimedOut) == 1)
        #expect(events.count(of: .retired(.pingTimeout)) == 1)
        #expect(events.count(of: .requestRerouted) == (retiredBeforeNext ? 0 : 1))
        await client.shutdown()
        await server.stop()
    }

    @Test func everyRequestOnAHungConnectionEndsByItsDeadline() async throws {
        let server = try await Self.silencingServer()
        let events = EventLog()
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(6)) {
            $0.pingTimeout = .seconds(60)
            $0.onEvent = { events.append($0) }
        }
        _ = try await client.execute(HTTP2Request(path: "/before", timeout: Self.patient))
        let started = ContinuousClock.now
        // The first silences the connection; the rest are on it already.
        let errors = await withTaskGroup(of: HTTP2ClientError?.self) { group in
            for index in 0..<6 {
                group.addTask {
                    do { _ = try await client.execute(HTTP2Request(path: "/hang-\(index)")); return nil } catch { return error as? HTTP2ClientError }
                }
            }
            return await group.reduce(into: [HTTP2ClientError?]()) { $0.append($1) }
        }
        #expect(errors == Array(repeating: .timedOut, count: 6))
        // Their deadline ended them, not the PING's (60 s): the margin is for a machine that stalls the
        // test itself, which took a busy CI machine past 9 s.
        #expect(ContinuousClock.now - started < .seconds(30), "ended by their 6 s deadline, not the PING's 60 s")
        #expect(events.count(of: .retired(.requestTimeouts)) == 1, "three timeouts in a row retire it, long before its PING's deadline")
        #expect(String(buffer: try await client.execute(HTTP2Request(path: "/after", timeout: Self.patient)).body) == "ok")
        await client.shutdown()
        await server.stop()
    }

    @Test func aStalledHandshakeFailsWithinTheConnectTimeout() async throws {
        let stages: [StalledServer.Stage] = [
            .beforeTLS,
            .afterTLS(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath),
        ]
        for stage in stages {
            let server = try await StalledServer.start(stage)
            let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(20)) { $0.connectTimeout = .milliseconds(500) }
            let started = ContinuousClock.now
            await #expect(throws: HTTP2ClientError.unavailable, "\(stage)") {
                _ = try await client.execute(HTTP2Request(path: "/"))
            }
            #expect(ContinuousClock.now - started < .seconds(10), "\(stage): failed at the connect deadline (0.5 s), not the request's (20 s)")
            await client.shutdown()
            await server.stop()
        }
    }

    @Test func aHungConnectHoldsNoRequestPastItsTimeout() async throws {
        let server = try await StalledServer.start(.beforeTLS)
        let client = try Self.client(port: server.port, connections: 1, timeout: .milliseconds(500)) { $0.connectTimeout = .seconds(60) }
        let started = ContinuousClock.now
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        #expect(ContinuousClock.now - started < .seconds(10), "at the request's deadline (0.5 s), not the connect's (60 s)")
        await client.shutdown()
        await server.stop()
    }

    // MARK: Stream ids

    @Test func connectionsRetireAtTheirLastStreamIDAndRequestsMoveToNewOnes() async throws {
        try await withOwnEventLoop { group in
        let server = try await Self.server(group: group) { _ in MockHTTPResponse(status: 200) }
        let events = EventLog()
        // Eleven streams per connection (ids 1...21).
        let client = try Self.client(port: server.port, connections: 2, timeout: Self.patient, group: group) {
            $0.lastStreamID = 21
            $0.onEvent = { events.append($0) }
        }
        let connections = try await withThrowingTaskGroup(of: String.self) { group in
            var seen: Set<String> = []
            for index in 0..<300 {
                if index >= 20, let connection = try await group.next() { seen.insert(connection) }
                group.addTask { try await client.execute(HTTP2Request(path: "/\(index)")).headers.first(name: "x-mock-connection") ?? "" }
            }
            for try await connection in group { seen.insert(connection) }
            return seen
        }
        #expect(connections.count >= 300 / 11, "every connection served at most eleven requests")
        #expect(events.count(of: .retired(.streamIDsExhausted)) >= 300 / 11 - 2)
        await client.shutdown()
        await server.stop()
        }
    }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    /// Adds one; returns the new count.
    func increment() -> Int { count.wrappingAdd(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}

final class EventLog: Sendable {
    private let events = Mutex<[HTTP2ConnectionEvent]>([])
    func append(_ event: HTTP2ConnectionEvent) { events.withLock { $0.append(event) } }
    func count(of event: HTTP2ConnectionEvent) -> Int { events.withLock { $0.filter { $0 == event }.count } }
}
