import Foundation
import HeraldHTTP2
import HeraldSupport
import HeraldTesting
import MockVendors
import NIOCore
import Testing

/// Vendor connections through an HTTP CONNECT proxy (`HTTPS_PROXY`), against a real proxy on loopback.
@Suite(.timeLimit(.minutes(1))) struct ProxyTunnelHandlerTests {
    static let credentials = "Basic " + Data("herald:s3cret".utf8).base64EncodedString()

    @Test func requestsGoThroughOneTunnelAndMegabytesFlowBothWays() async throws {
        // A volume test: on a loop of its own (see withOwnEventLoop).
        try await withOwnEventLoop { loop in
            let server = try await HTTP2ClientTests.server(group: loop) { request in
                MockHTTPResponse(status: 200, headers: [], body: request.body, delayMilliseconds: 0)
            }
            let proxy = try await ConnectProxy.start(requiredAuthorization: Self.credentials, group: loop)
            let client = try HTTP2ClientTests.client(port: server.port, connections: 1, group: loop) {
                $0.proxy = EgressProxy.Server(host: "127.0.0.1", port: proxy.port, authorization: Self.credentials)
            }
            // 400 requests of 4 KiB each way: 3.2 MB through the tunnel, past every initial flow-control window.
            let body = Data(repeating: 0x61, count: 4096)
            let answered = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<400 {
                    group.addTask {
                        let response = try await client.execute(HTTP2Request(path: "/\(index)", body: ByteBuffer(bytes: body)))
                        return response.status == 200 && response.body.readableBytes == body.count ? 1 : 0
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(answered == 400)
            #expect(proxy.tunnels == [.init(target: "127.0.0.1:\(server.port)", authorization: Self.credentials, status: 200)])
            #expect(proxy.relayedBytes > 2 * 400 * body.count)
            await client.shutdown()
            await proxy.stop()
            await server.stop()
        }
    }

    @Test(arguments: [403, 407, 502])
    func aProxyThatRefusesTheTunnelMakesTheVendorUnavailable(status: Int) async throws {
        let arrived = ArrivalFlag()
        let server = try await HTTP2ClientTests.server { _ in
            arrived.set()
            return MockHTTPResponse(status: 200, headers: [], body: Data(), delayMilliseconds: 0)
        }
        let proxy = try await ConnectProxy.start(refuseWith: status)
        // The refusal, not the request timeout, must end the request: the timeout is far off, so a
        // busy machine that is slow to relay the CONNECT still sees the proxy's answer.
        let client = try HTTP2ClientTests.client(port: server.port, connections: 1, timeout: .seconds(30)) {
            $0.proxy = EgressProxy.Server(host: "127.0.0.1", port: proxy.port)
        }
        let start = ContinuousClock.now
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        #expect(proxy.tunnels.first?.status == status)
        #expect(ContinuousClock.now - start < .seconds(15), "failed on the refusal, long before the timeout")
        #expect(!arrived.value, "nothing reached the vendor")
        await client.shutdown()
        await proxy.stop()
        await server.stop()
    }

    @Test func wrongCredentialsAreRefusedWith407() async throws {
        let proxy = try await ConnectProxy.start(requiredAuthorization: Self.credentials)
        let client = try HTTP2ClientTests.client(port: 9, connections: 1, timeout: .seconds(30)) {
            $0.proxy = EgressProxy.Server(host: "127.0.0.1", port: proxy.port, authorization: "Basic d3Jvbmc6d3Jvbmc=")
        }
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        #expect(proxy.tunnels.first?.status == 407)
        await client.shutdown()
        await proxy.stop()
    }

    @Test func aProxyThatNeverAnswersIsGivenUpOnAtTheConnectTimeout() async throws {
        let silent = try await StalledServer.start(.beforeTLS)
        let client = try HTTP2ClientTests.client(port: 443, connections: 1, timeout: .seconds(30)) {
            $0.proxy = EgressProxy.Server(host: "127.0.0.1", port: silent.port)
            $0.connectTimeout = .milliseconds(500)
        }
        let start = ContinuousClock.now
        await #expect(throws: HTTP2ClientError.unavailable) {
            _ = try await client.execute(HTTP2Request(path: "/"))
        }
        #expect(ContinuousClock.now - start < .seconds(15), "given up at the connect timeout, not the request timeout")
        await client.shutdown()
        await silent.stop()
    }
}
