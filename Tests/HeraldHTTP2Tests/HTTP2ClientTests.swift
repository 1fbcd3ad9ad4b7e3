import Foundation
import HeraldHTTP2
import HeraldTesting
import NIOCore
import NIOSSL
import Synchronization
import Testing

final class ArrivalFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// The vendor HTTP/2 client against a real HTTP/2-over-TLS server: stream bookkeeping, timeouts, and
/// what happens when the server goes away.
@Suite(.timeLimit(.minutes(1))) struct HTTP2ClientTests {
    static func client(port: Int, connections: Int = 2, timeout: Duration = .seconds(10)) throws -> HTTP2Client {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(ExampleKeys.tlsCertificatePath)
        return try HTTP2Client(configuration: .init(host: "127.0.0.1", port: port, tls: tls, connections: connections, requestTimeout: timeout))
    }

    static func server(_ answer: @escaping @Sendable (MockHTTPRequest) -> MockHTTPResponse) async throws -> MockHTTP2Server {
        try await MockHTTP2Server.start(certificateFile: ExampleKeys.tlsCertificatePath, privateKeyFile: ExampleKeys.tlsKeyPath, handler: answer)
    }

    @Test func concurrentRequestsEachGetTheirOwnAnswer() async throws {
        // Answers echo the path and the body, after a delay that varies, so answers come back out of
        // order and any mix-up between streams shows.
        let server = try await Self.server { request in
            MockHTTPResponse(
                status: 200 + request.body.count % 7,
                headers: [("x-path", request.path)],
                body: Data((request.path + "|" + String(decoding: request.body, as: UTF8.self)).utf8),
                delayMilliseconds: request.body.count % 5
            )
        }
        let client = try Self.client(port: server.port)
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

    @Test func aSlowAnswerTimesOutAndTheConnectionServesTheNextRequest() async throws {
        let server = try await Self.server { request in
            MockHTTPResponse(status: 200, body: Data("ok".utf8), delayMilliseconds: request.path == "/slow" ? 20_000 : 0)
        }
        // Long enough that a loaded machine answers /fast in time, far shorter than /slow's delay.
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(2))
        await #expect(throws: HTTP2ClientError.timedOut) {
            _ = try await client.execute(HTTP2Request(path: "/slow"))
        }
        let next = try await client.execute(HTTP2Request(path: "/fast"))
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
                return MockHTTPResponse(status: 200, delayMilliseconds: 5_000)
            default: return MockHTTPResponse(status: 200)
            }
        }
        let client = try Self.client(port: server.port, connections: 1, timeout: .seconds(30))
        #expect(try await client.execute(HTTP2Request(path: "/first")).status == 200)
        let started = ContinuousClock.now
        let waiting = Task { try await client.execute(HTTP2Request(path: "/waiting")) }
        #expect(await eventually { waitingArrived.value }, "the server holds /waiting before the connection drops")
        await #expect(throws: (any Error).self) {
            _ = try await client.execute(HTTP2Request(path: "/drop"))
        }
        await #expect(throws: (any Error).self, "a request in flight on the lost connection fails too") {
            _ = try await waiting.value
        }
        #expect(ContinuousClock.now - started < .seconds(4), "failed when the connection dropped, not when the answer was due")
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
        let moved = await eventually(timeout: .seconds(5)) {
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
        let server = try await Self.server { _ in MockHTTPResponse(status: 200) }
        let port = server.port
        await server.stop()
        let client = try Self.client(port: port, connections: 1, timeout: .seconds(30))
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) {
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
}
