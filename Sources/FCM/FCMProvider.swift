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
/// A push is a chain of callbacks and futures with no task: the dispatcher's fast path calls
/// `send(_:completion:)`, and `send(_:)` awaits the same.
public final class FCMProvider: CallbackPushProvider {
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
        await withCheckedContinuation { continuation in
            send(push) { continuation.resume(returning: $0) }
        }
    }

    public func send(_ push: PushRequest, completion: @escaping @Sendable (PushOutcome) -> Void) {
        let body = ByteBuffer(string: FCMMessage.body(for: push, notification: notification))
        let logger = self.logger
        let finish: @Sendable (PushOutcome) -> Void = { outcome in
            logger.debug("fcm answered", metadata: [LogKey.outcome: "\(outcome.label)", LogKey.vendorReason: "\(outcome.reason)"])
            completion(outcome)
        }
        tokens.token { result in
            switch result {
            case .failure(let error):
                completion(Self.unsent(error))
            case .success(let token):
                self.post(body, token: token).whenComplete { posted in
                    // An access token FCM refuses is replaced once; a second refusal is a credential problem.
                    guard case .success(let answer) = posted, answer.status == 401 else { return finish(Self.outcome(of: posted)) }
                    self.tokens.invalidate(token)
                    self.tokens.token { renewed in
                        switch renewed {
                        case .failure(let error): completion(Self.unsent(error))
                        case .success(let token): self.post(body, token: token).whenComplete { finish(Self.outcome(of: $0)) }
                        }
                    }
                }
            }
        }
    }

    /// A push that did not go out because no access token could be had.
    private static func unsent(_ error: any Error) -> PushOutcome {
        if let error = error as? FCMAccessTokens.Failure, !error.isTransient {
            return .credentials(reason: .unknown(error.description))
        }
        // The token endpoint was out of reach; the push itself was never sent.
        return .retry(reason: "token endpoint unavailable", retryAfter: nil)
    }

    private static func outcome(of posted: Result<(status: Int, body: Data, retryAfter: Duration?), any Error>) -> PushOutcome {
        switch posted {
        case .success(let answer):
            return FCMResponseClassifier.outcome(status: answer.status, body: answer.body, retryAfter: answer.retryAfter)
        case .failure(let error as HTTP2ClientError):
            return error.mayHaveBeenProcessed ? .unconfirmed(reason: .unknown("\(error)")) : .retry(reason: .unknown("\(error)"), retryAfter: nil)
        case .failure:
            return .retry(reason: "connection failed", retryAfter: nil)
        }
    }

    private func post(_ body: ByteBuffer, token: String) -> EventLoopFuture<(status: Int, body: Data, retryAfter: Duration?)> {
        let clock = self.clock
        return client.executeFuture(HTTP2Request(
            path: sendPath,
            headers: [("authorization", "Bearer " + token), ("content-type", "application/json")],
            body: body
        )).map { response in
            let retryAfter = response.headers.first(name: "retry-after").flatMap { RetryAfter.parse($0, now: clock.wallTime) }
            return (response.status, Data(response.body.readableBytesView), retryAfter)
        }
    }

    public func shutdown() async {
        await client.shutdown()
        await tokenClient.shutdown()
    }
}
