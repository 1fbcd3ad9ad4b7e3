import Foundation
import HeraldCore
import HeraldHTTP2
import HeraldSupport
import Logging
import NIOCore
import NIOHPACK
import NIOSSL
import VendorSupport

/// Sends pushes through FCM HTTP v1 over HTTP/2, authenticated with the service account's OAuth tokens.
public final class FCMProvider: PushProvider {
    public struct Configuration: Sendable {
        public var endpoint: String
        /// Overrides the key file's `token_uri` (a mock in tests).
        public var tokenURI: String?
        public var projectID: String?
        public var connections: Int
        public var requestTimeout: Duration
        public var trustRootsFile: String?
        /// Add a visible notification block to important pushes.
        public var notification: Bool
        /// How the vendor connections connect, ping and retire (shared by every vendor).
        public var connection: HTTP2ConnectionSettings

        public init(
            endpoint: String = "https://fcm.googleapis.com",
            tokenURI: String? = nil,
            projectID: String? = nil,
            connections: Int = 2,
            requestTimeout: Duration = .seconds(10),
            trustRootsFile: String? = nil,
            notification: Bool = false,
            connection: HTTP2ConnectionSettings = .init()
        ) {
            self.endpoint = endpoint
            self.tokenURI = tokenURI
            self.projectID = projectID
            self.connections = connections
            self.requestTimeout = requestTimeout
            self.trustRootsFile = trustRootsFile
            self.notification = notification
            self.connection = connection
        }
    }

    public let tokens: FCMAccessTokens
    private let client: HTTP2Client
    private let tokenClient: HTTP2Client
    private let sendPath: String
    private let notification: Bool
    private let logger: Logger
    private let clock: any ServerClock

    public init(account: ServiceAccount, configuration: Configuration, logger: Logger, clock: any ServerClock = SystemClock()) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let trustRootsFile = configuration.trustRootsFile { tls.trustRoots = .file(trustRootsFile) }
        func client(_ url: String) throws -> (HTTP2Client, String) {
            guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host else {
                throw ServiceAccount.Invalid(description: "\(url) is not an https URL")
            }
            let client = try HTTP2Client(configuration: configuration.connection.clientConfiguration(
                host: host, port: components.port ?? 443, tls: tls,
                connections: configuration.connections, requestTimeout: configuration.requestTimeout, logger: logger
            ))
            return (client, components.path.isEmpty ? "/" : components.path)
        }
        let tokenURI = configuration.tokenURI ?? account.tokenURI
        let (tokenClient, tokenPath) = try client(tokenURI)
        var account = account
        account.tokenURI = tokenURI
        (self.client, _) = try client(configuration.endpoint)
        self.tokenClient = tokenClient
        self.tokens = FCMAccessTokens(account: account, client: tokenClient, tokenPath: tokenPath, clock: clock)
        self.sendPath = "/v1/projects/\(configuration.projectID ?? account.projectID)/messages:send"
        self.notification = configuration.notification
        self.logger = logger
        self.clock = clock
    }

    public func send(_ push: PushRequest) async -> PushOutcome {
        let body = FCMMessage.body(for: push, notification: notification)
        do {
            var token = try await accessToken()
            var (status, response, retryAfter) = try await post(body, token: token)
            // An access token FCM refuses is replaced once; a second refusal is a credential problem.
            if status == 401 {
                tokens.invalidate(token)
                token = try await accessToken()
                (status, response, retryAfter) = try await post(body, token: token)
            }
            let outcome = FCMResponseClassifier.outcome(status: status, body: response, retryAfter: retryAfter)
            logger.debug("fcm answered", metadata: [LogKey.outcome: "\(outcome.label)", LogKey.vendorReason: "\(outcome.reason)"])
            return outcome
        } catch let outcome as Unsent {
            return outcome.outcome
        } catch let error as HTTP2ClientError {
            return error.mayHaveBeenProcessed ? .unconfirmed(reason: .unknown("\(error)")) : .retry(reason: .unknown("\(error)"), retryAfter: nil)
        } catch {
            return .retry(reason: "connection failed", retryAfter: nil)
        }
    }

    /// A push that did not go out because no access token could be had.
    private struct Unsent: Error {
        var outcome: PushOutcome
    }

    private func accessToken() async throws(Unsent) -> String {
        do {
            return try await tokens.token()
        } catch let error as FCMAccessTokens.Failure where !error.isTransient {
            throw Unsent(outcome: .credentials(reason: .unknown(error.description)))
        } catch {
            // The token endpoint was out of reach; the push itself was never sent.
            throw Unsent(outcome: .retry(reason: "token endpoint unavailable", retryAfter: nil))
        }
    }

    private func post(_ body: String, token: String) async throws -> (Int, Data, Duration?) {
        let response = try await client.execute(HTTP2Request(
            path: sendPath,
            headers: [("authorization", "Bearer " + token), ("content-type", "application/json")],
            body: ByteBuffer(string: body)
        ))
        let retryAfter = RetryAfter.parse(response.headers.first(name: "retry-after"), now: clock.wallTime)
        return (response.status, Data(response.body.readableBytesView), retryAfter)
    }

    public func shutdown() async {
        await client.shutdown()
        await tokenClient.shutdown()
    }
}
