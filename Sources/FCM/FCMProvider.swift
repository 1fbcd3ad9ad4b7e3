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
/// A push is one `Delivery` answered by callbacks, with no task: the dispatcher's fast path calls
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
        Delivery(provider: self, body: ByteBuffer(string: FCMMessage.body(for: push, notification: notification)), completion: completion).start()
    }

    /// One push's way to FCM: an access token, the request, and once more with a new token if FCM
    /// refuses the first (a second refusal is a credential problem). One object for the whole way,
    /// where a closure and two futures for each step captured the body again.
    ///
    /// `@unchecked Sendable`: its steps run one after another, each started from the answer to the one
    /// before, so its state is never touched from two threads at once.
    private final class Delivery: @unchecked Sendable {
        private let provider: FCMProvider
        private let body: ByteBuffer
        private let completion: @Sendable (PushOutcome) -> Void
        private var token = ""
        private var renewedToken = false

        init(provider: FCMProvider, body: ByteBuffer, completion: @escaping @Sendable (PushOutcome) -> Void) {
            self.provider = provider
            self.body = body
            self.completion = completion
        }

        func start() {
            provider.tokens.token { self.tokenArrived($0) }
        }

        private func tokenArrived(_ result: Result<String, any Error>) {
            switch result {
            case .failure(let error):
                completion(FCMProvider.unsent(error))
            case .success(let token):
                self.token = token
                let request = HTTP2Request(
                    path: provider.sendPath,
                    headers: [("authorization", "Bearer " + token), ("content-type", "application/json")],
                    body: body
                )
                provider.client.execute(request) { self.answered($0) }
            }
        }

        private func answered(_ result: Result<HTTP2Response, any Error>) {
            if case .success(let response) = result, response.status == 401, !renewedToken {
                renewedToken = true
                provider.tokens.invalidate(token)
                return provider.tokens.token { self.tokenArrived($0) }
            }
            let clock = provider.clock
            let outcome = FCMProvider.outcome(of: result.map { response in
                let retryAfter = response.headers.first(name: "retry-after").flatMap { RetryAfter.parse($0, now: clock.wallTime) }
                return (response.status, Data(response.body.readableBytesView), retryAfter)
            })
            provider.logger.debug("fcm answered", metadata: [LogKey.outcome: "\(outcome.label)", LogKey.vendorReason: "\(outcome.reason)"])
            completion(outcome)
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

    public func shutdown() async {
        await client.shutdown()
        await tokenClient.shutdown()
    }
}
