import Crypto
import Foundation
import HeraldCore
import HeraldHTTP2
import HeraldSupport
import Logging
import NIOCore
import NIOHPACK
import NIOSSL
import VendorSupport

/// Sends pushes to APNs over HTTP/2, with token (JWT) or certificate authentication. A push is one
/// `Delivery` answered by callbacks on the vendor connection's event loop, with no task: the
/// dispatcher's fast path calls `send(_:completion:)`, and `send(_:)` awaits the same.
public final class APNsProvider: CallbackPushProvider {
    public enum Authentication: Sendable {
        case token(APNsTokenManager)
        /// The TLS client certificate is configured on the clients; requests carry no authorization.
        case certificate
    }

    public struct Configuration: Sendable {
        /// The app's bundle id; VoIP pushes go to `<topic>.voip`.
        public var topic: String
        public var productionURL: String
        public var sandboxURL: String
        public var connectionsPerHost: Int
        public var requestTimeout: Duration
        /// Extra trust for the vendor's TLS certificate (a mock vendor); nil uses the system's.
        public var trustRootsFile: String?
        /// Client certificate authentication: PEM certificate chain and key, or a .p12 bundle.
        public var certificateFile: String?
        public var privateKeyFile: String?
        public var pkcs12File: String?
        public var pkcs12Password: String?
        /// How the vendor connections connect, ping and retire (shared by every vendor).
        public var connection: HTTP2ConnectionSettings

        public init(
            topic: String,
            productionURL: String = "https://api.push.apple.com",
            sandboxURL: String = "https://api.sandbox.push.apple.com",
            connectionsPerHost: Int = 2,
            requestTimeout: Duration = .seconds(10),
            trustRootsFile: String? = nil,
            certificateFile: String? = nil,
            privateKeyFile: String? = nil,
            pkcs12File: String? = nil,
            pkcs12Password: String? = nil,
            connection: HTTP2ConnectionSettings = .init()
        ) {
            self.topic = topic
            self.productionURL = productionURL
            self.sandboxURL = sandboxURL
            self.connectionsPerHost = connectionsPerHost
            self.requestTimeout = requestTimeout
            self.trustRootsFile = trustRootsFile
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
            self.pkcs12File = pkcs12File
            self.pkcs12Password = pkcs12Password
            self.connection = connection
        }

        /// The client certificate chain and key for certificate authentication, read from the files;
        /// nil with token authentication. Throws what is wrong with the files.
        public func clientIdentity() throws -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)? {
            if let pkcs12File {
                let bundle = try NIOSSLPKCS12Bundle(file: pkcs12File, passphrase: Array((pkcs12Password ?? "").utf8))
                return (bundle.certificateChain, bundle.privateKey)
            }
            if let certificateFile, let privateKeyFile {
                let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
                guard !chain.isEmpty else { throw APNsConfigurationError(message: "\(certificateFile) holds no certificate") }
                return (chain, try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            }
            return nil
        }
    }

    private let configuration: Configuration
    private let authentication: Authentication

    private let production: HTTP2Client
    private let sandbox: HTTP2Client
    private let logger: Logger
    private let clock: any ServerClock

    public init(configuration: Configuration, authentication: Authentication, logger: Logger, clock: any ServerClock = SystemClock()) throws {
        self.configuration = configuration
        self.authentication = authentication
        self.logger = logger
        self.clock = clock
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let trustRootsFile = configuration.trustRootsFile {
            tls.trustRoots = .file(trustRootsFile)
        }
        if let identity = try configuration.clientIdentity() {
            tls.certificateChain = identity.chain.map { .certificate($0) }
            tls.privateKey = .privateKey(identity.key)
        }
        func client(_ url: String) throws -> HTTP2Client {
            guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host else {
                throw APNsConfigurationError(message: "\(url) is not an https URL")
            }
            return try HTTP2Client(configuration: configuration.connection.clientConfiguration(
                host: host, port: components.port ?? 443, tls: tls,
                connections: configuration.connectionsPerHost, requestTimeout: configuration.requestTimeout, logger: logger
            ))
        }
        production = try client(configuration.productionURL)
        sandbox = try client(configuration.sandboxURL)
    }

    public func send(_ push: PushRequest) async -> PushOutcome {
        await withCheckedContinuation { continuation in
            send(push) { continuation.resume(returning: $0) }
        }
    }

    public func send(_ push: PushRequest, completion: @escaping @Sendable (PushOutcome) -> Void) {
        let notification = APNsNotification(push: push, topic: configuration.topic, now: clock.wallTime)
        guard notification.body.utf8.count <= notification.maximumBodyBytes else {
            return completion(.rejected(reason: "PayloadTooLarge"))
        }
        // A publish may choose (Openfire's clients send `sandbox=true` from development builds).
        let environment = push.publish.environment ?? push.registration.environment ?? .production
        Delivery(provider: self, notification: notification, environment: environment, completion: completion).start()
    }

    /// One push's way to APNs: its request, then at most a retry with a renewed provider token, and one
    /// try on the other environment (each environment renewing once too). One object for the whole way,
    /// where a closure for each step captured the notification again.
    ///
    /// `@unchecked Sendable`: its steps run one after another, each started from the answer to the one
    /// before, so its state is never touched from two threads at once.
    private final class Delivery: @unchecked Sendable {
        private let provider: APNsProvider
        private let notification: APNsNotification
        private let apnsID = APNsID.make()
        private let completion: @Sendable (PushOutcome) -> Void
        private var environment: APNsEnvironment
        private var bearer: String?
        private var renewedBearer = false
        private var onOtherEnvironment = false

        init(provider: APNsProvider, notification: APNsNotification, environment: APNsEnvironment, completion: @escaping @Sendable (PushOutcome) -> Void) {
            self.provider = provider
            self.notification = notification
            self.environment = environment
            self.completion = completion
        }

        func start() {
            do {
                bearer = try provider.currentBearer()
            } catch {
                return concluded(.failure(error))
            }
            post()
        }

        private func post() {
            let request = HTTP2Request(
                path: "/3/device/" + notification.deviceToken, headers: notification.headers(authorization: bearer),
                unindexedHeaders: notification.unindexedHeaders(apnsID: apnsID), indexesPath: false,
                body: ByteBuffer(string: notification.body)
            )
            let client = environment == .sandbox ? provider.sandbox : provider.production
            client.execute(request) { self.answered($0) }
        }

        private func answered(_ result: Result<HTTP2Response, any Error>) {
            let clock = provider.clock
            let outcome = result.map { response in
                APNsResponseClassifier.outcome(
                    status: response.status,
                    reason: response.status == 200 ? nil : APNsResponseClassifier.reason(in: Data(response.body.readableBytesView)),
                    retryAfter: response.headers.first(name: "retry-after").flatMap { RetryAfter.parse($0, now: clock.wallTime) },
                    apnsID: response.headers.first(name: "apns-id") ?? apnsID
                )
            }
            // A provider token APNs calls expired is renewed and the push sent once more.
            if case .success(.credentials(VendorReason.APNs.expiredProviderToken)) = outcome, !renewedBearer,
                case .token(let tokens) = provider.authentication, let rejected = bearer
            {
                renewedBearer = true
                do {
                    bearer = try tokens.renew(rejected: rejected)
                } catch {
                    return concluded(.failure(APNsConfigurationError(message: "signing the provider token failed")))
                }
                return post()
            }
            concluded(outcome)
        }

        /// One environment's answer, after any renewal.
        private func concluded(_ outcome: Result<PushOutcome, any Error>) {
            guard !onOtherEnvironment else {
                switch outcome {
                case .success(.delivered(let id, _)): return finish(.delivered(id: id, environment: environment))
                case .success(.deadToken): return finish(.deadToken(reason: VendorReason.APNs.badDeviceToken))
                case .success(let elsewhere): return finish(elsewhere)
                case .failure(let error): return finish(APNsProvider.outcome(of: error))
                }
            }
            switch outcome {
            case .success(.deadToken(VendorReason.APNs.badDeviceToken)):
                // A token from a development or TestFlight build is refused as BadDeviceToken by the other
                // environment, and p2 and Tigase clients do not say which they are: one try on the other
                // environment tells a wrong guess from a dead token (410 is dead in either).
                onOtherEnvironment = true
                environment = environment == .sandbox ? .production : .sandbox
                renewedBearer = false
                start()
            case .success(let outcome):
                finish(outcome)
            case .failure(let error):
                finish(APNsProvider.outcome(of: error))
            }
        }

        private func finish(_ outcome: PushOutcome) {
            provider.logger.debug(
                "apns answered", metadata: [LogKey.apnsID: "\(apnsID)", LogKey.outcome: "\(outcome.label)", LogKey.vendorReason: "\(outcome.reason)"]
            )
            completion(outcome)
        }
    }

    /// What a failed request means for the push.
    private static func outcome(of error: any Error) -> PushOutcome {
        switch error {
        case let error as HTTP2ClientError:
            error.mayHaveBeenProcessed ? .unconfirmed(reason: .unknown("\(error)")) : .retry(reason: .unknown("\(error)"), retryAfter: nil)
        case let error as APNsConfigurationError:
            .credentials(reason: .unknown(error.message))
        default:
            // Connection refused, TLS failure, connection lost mid-request: worth another try later.
            .retry(reason: "connection failed", retryAfter: nil)
        }
    }

    private func currentBearer() throws -> String? {
        switch authentication {
        case .token(let tokens):
            do {
                return try tokens.bearer()
            } catch {
                throw APNsConfigurationError(message: "signing the provider token failed")
            }
        case .certificate:
            return nil
        }
    }

    public func shutdown() async {
        await production.shutdown()
        await sandbox.shutdown()
    }
}

public struct APNsConfigurationError: Error, Sendable {
    public let message: String
}
