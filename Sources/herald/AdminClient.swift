import ArgumentParser
import AsyncHTTPClient
import Foundation
import HeraldAdmin
import HeraldApp
import NIOCore
import NIOHTTP1
import NIOPosix

/// Talks to a running Herald's admin server, as configured: `push-test` and `health` use it.
struct AdminClient {
    let baseURL: String
    let token: String?

    init(configuration: HeraldConfiguration) throws {
        guard let admin = configuration.admin else {
            throw ValidationError("the admin server is off (admin.enabled is false): turn it on to use this command")
        }
        let host = admin.host == "0.0.0.0" ? "127.0.0.1" : (admin.host == "::" ? "::1" : admin.host)
        baseURL = "http://\(host.contains(":") ? "[\(host)]" : host):\(admin.port)"
        token = admin.token
    }

    func send(_ method: HTTPMethod, _ path: String, timeout: TimeAmount = .seconds(30)) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, String(buffer: body))
    }
}

extension AdminClient {
    /// Whether a Herald answers at the admin address: its /health says alive (for `check`).
    func heraldAnswers() async -> Bool {
        guard let answer = try? await send(.GET, "/health", timeout: .seconds(5)) else { return false }
        return answer.status == 200 && answer.body.contains(#""status":"alive""#)
    }
}

struct PushTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push-test",
        abstract: "Send a test push to one registration through the running Herald's real vendor path.",
        discussion: "Asks the admin server (admin.host, admin.port) with the admin token; prints the vendor's answer."
    )

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The registration's node.") var node: String

    func run() async throws {
        let client = try AdminClient(configuration: try options.load())
        let encoded = node.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? node
        let answer: (status: UInt, body: String)
        do {
            answer = try await client.send(.POST, "/v1/registrations/\(encoded)/test-push")
        } catch {
            throw ValidationError("cannot reach Herald's admin server at \(client.baseURL): is `herald serve` running? (\(error))")
        }
        print(answer.body)
        guard answer.status == 200, answer.body.contains("\"outcome\":\"delivered\"") else { throw ExitCode(1) }
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 if the running Herald answers /health (or /ready with --ready); for container health checks."
    )

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Check readiness (component connected, store reachable, credentials loaded) instead of liveness.")
    var ready = false

    func run() async throws {
        let client = try AdminClient(configuration: try options.load())
        let answer = try? await client.send(.GET, ready ? "/ready" : "/health")
        guard let answer, answer.status == 200 else {
            print(answer?.body ?? "no answer from \(client.baseURL)")
            throw ExitCode(1)
        }
        print(answer.body)
    }
}

/// Whether a TCP port can be bound now (for `check`).
enum PortProbe {
    static func isFree(host: String, port: Int) -> Bool {
        do {
            let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: host, port: port).wait()
            try channel.close().wait()
            return true
        } catch {
            return false
        }
    }
}
