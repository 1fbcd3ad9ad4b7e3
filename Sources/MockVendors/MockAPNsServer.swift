import Crypto
import Foundation
import HeraldSupport
import NIOCore
import NIOPosix
import Synchronization

/// A mock APNs for tests, `herald mock-vendor` and the benchmark: HTTP/2 over TLS on a loopback port,
/// checking what Apple checks (the provider JWT's ES256 signature, key id, team and age; the path and
/// the `apns-*` headers; the payload size) and answering as Apple does. Answers can be scripted per
/// device token (410, 400 BadDeviceToken, 429 with Retry-After, 503, slow answers).
public final class MockAPNsServer: Sendable {
    public enum Script: Sendable, Hashable {
        case success
        case failure(status: Int, reason: String, retryAfter: Int? = nil)
        /// Answers success after a delay.
        case slow(milliseconds: Int)

        public static let unregistered = Script.failure(status: 410, reason: "Unregistered")
        public static let badDeviceToken = Script.failure(status: 400, reason: "BadDeviceToken")
        public static let unavailable = Script.failure(status: 503, reason: "ServiceUnavailable")
        public static func tooManyRequests(retryAfter: Int) -> Script { .failure(status: 429, reason: "TooManyRequests", retryAfter: retryAfter) }
    }

    public struct Credentials: Sendable {
        public var keyID: String
        public var teamID: String
        public var publicKey: P256.Signing.PublicKey

        public init(keyID: String, teamID: String, publicKey: P256.Signing.PublicKey) {
            self.keyID = keyID
            self.teamID = teamID
            self.publicKey = publicKey
        }
    }

    public struct Request: Sendable, Hashable {
        public var deviceToken: String
        public var headers: [String: String]
        public var body: String
        /// The JWT's claims, when it verified.
        public var issuer: String?
        public var issuedAt: Int?
        /// What the mock answered.
        public var status: Int
        public var reason: String?
        /// When the mock decided its answer, before the answer left: a lower bound on when the sender heard it.
        public var answeredAt: Date
    }

    final class State: Sendable {
        let requests = Mutex<[Request]>([])
        let scripts = Mutex<[String: Script]>([:])
        let defaultScript = Mutex<Script>(.success)
        let count = Atomic<Int>(0)
        let keepRequests = Atomic<Bool>(true)
        let observer = Mutex<(@Sendable (Request) -> Void)?>(nil)
        let deadTokenPrefix = Mutex<String?>(nil)
        /// Tokens already verified, with their claims: like Apple, the mock checks a provider token
        /// once, not on every request, which would make the mock itself the bottleneck.
        let verifiedTokens = Mutex<[String: (issuer: String, issuedAt: Int)]>([:])
    }

    public var port: Int { server.port }
    let state: State
    private let server: MockHTTP2Server
    public let credentials: Credentials?

    /// Starts on 127.0.0.1 at a free port. `credentials` nil accepts any token (certificate-style);
    /// `clientCertificateTrustRoots` makes TLS require a client certificate that chains to them.
    public static func start(
        certificateFile: String,
        privateKeyFile: String,
        credentials: Credentials?,
        clientCertificateTrustRoots: String? = nil,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MockAPNsServer {
        let state = State()
        let server = try await MockHTTP2Server.start(
            certificateFile: certificateFile, privateKeyFile: privateKeyFile, host: host, port: port, group: group,
            clientCertificateTrustRoots: clientCertificateTrustRoots
        ) { request in
            MockAPNsLogic.answer(request, state: state, credentials: credentials)
        }
        return MockAPNsServer(state: state, server: server, credentials: credentials)
    }

    private init(state: State, server: MockHTTP2Server, credentials: Credentials?) {
        self.state = state
        self.server = server
        self.credentials = credentials
    }

    public var url: String { "https://127.0.0.1:\(port)" }
    public var requests: [Request] { state.requests.withLock { $0 } }
    public var requestCount: Int { state.count.load(ordering: .relaxed) }

    public func script(_ token: String, _ script: Script) {
        state.scripts.withLock { $0[token] = script }
    }

    public func scriptDefault(_ script: Script) {
        state.defaultScript.withLock { $0 = script }
    }

    /// Answers 410 Unregistered for every token that starts with `prefix` (benchmarks' dead tokens).
    public func treatAsUnregistered(prefix: String) {
        state.deadTokenPrefix.withLock { $0 = prefix }
    }

    /// Calls `observer` with every request as it is answered (for `herald mock-vendor`'s log).
    public func observe(_ observer: @escaping @Sendable (Request) -> Void) {
        state.observer.withLock { $0 = observer }
    }

    /// Stops keeping request records (for long benchmark runs); counting goes on.
    public func keepRequests(_ keep: Bool) {
        state.keepRequests.store(keep, ordering: .relaxed)
    }

    public func stop() async {
        await server.stop()
    }
}

/// What the mock APNs answers: Apple's checks first, then the script for the token.
enum MockAPNsLogic {
    static func answer(_ http: MockHTTPRequest, state: MockAPNsServer.State, credentials: MockAPNsServer.Credentials?) -> MockHTTPResponse {
        let token = http.path.hasPrefix("/3/device/") ? String(http.path.dropFirst("/3/device/".count)) : ""
        let bodyText = String(decoding: http.body, as: UTF8.self)
        var claims: (issuer: String, issuedAt: Int)?
        var answer: (status: Int, reason: String?, retryAfter: Int?, delay: Int) = (200, nil, nil, 0)

        if let problem = check(http, token: token, body: bodyText, credentials: credentials, verified: state.verifiedTokens, claims: &claims) {
            answer = (problem.status, problem.reason, nil, 0)
        } else {
            let deadPrefix = state.deadTokenPrefix.withLock { $0 }
            let script = deadPrefix.map { token.hasPrefix($0) } == true
                ? .unregistered
                : state.scripts.withLock { $0[token] } ?? state.defaultScript.withLock { $0 }
            switch script {
            case .success: break
            case .failure(let status, let reason, let retryAfter): answer = (status, reason, retryAfter, 0)
            case .slow(let milliseconds): answer.delay = milliseconds
            }
        }
        state.count.add(1, ordering: .relaxed)
        let observer = state.observer.withLock { $0 }
        if state.keepRequests.load(ordering: .relaxed) || observer != nil {
            let request = MockAPNsServer.Request(
                deviceToken: token, headers: http.headers, body: bodyText,
                issuer: claims?.issuer, issuedAt: claims?.issuedAt, status: answer.status, reason: answer.reason, answeredAt: Date()
            )
            if state.keepRequests.load(ordering: .relaxed) { state.requests.withLock { $0.append(request) } }
            observer?(request)
        }
        var headers = [("apns-id", http.headers["apns-id"] ?? UUID().uuidString.lowercased())]
        if let retryAfter = answer.retryAfter { headers.append(("retry-after", String(retryAfter))) }
        var body = Data()
        if let reason = answer.reason {
            let timestamp = answer.status == 410 ? #","timestamp":\#(Int(Date().timeIntervalSince1970 * 1000))"# : ""
            body = Data(#"{"reason":"\#(reason)"\#(timestamp)}"#.utf8)
        }
        return MockHTTPResponse(status: answer.status, headers: headers, body: body, delayMilliseconds: answer.delay)
    }

    /// What Apple would refuse, as (status, reason).
    private static func check(
        _ http: MockHTTPRequest,
        token: String,
        body: String,
        credentials: MockAPNsServer.Credentials?,
        verified: borrowing Mutex<[String: (issuer: String, issuedAt: Int)]>,
        claims: inout (issuer: String, issuedAt: Int)?
    ) -> (status: Int, reason: String)? {
        let headers = http.headers
        guard http.method == "POST" else { return (405, "MethodNotAllowed") }
        guard !token.isEmpty else { return (400, "MissingDeviceToken") }
        guard token.allSatisfy(\.isHexDigit) else { return (400, "BadDeviceToken") }
        guard let topic = headers["apns-topic"], !topic.isEmpty else { return (400, "MissingTopic") }
        let pushType = headers["apns-push-type"]
        guard let pushType, ["alert", "background", "voip", "location", "complication", "fileprovider", "mdm", "liveactivity"].contains(pushType) else {
            return (400, "InvalidPushType")
        }
        if pushType == "voip", !topic.hasSuffix(".voip") { return (400, "DeviceTokenNotForTopic") }
        if let priority = headers["apns-priority"] {
            guard ["1", "5", "10"].contains(priority) else { return (400, "BadPriority") }
            if pushType == "background", priority != "5" { return (400, "BadPriority") }
        }
        if let expiration = headers["apns-expiration"], Int(expiration) == nil { return (400, "BadExpirationDate") }
        if let collapse = headers["apns-collapse-id"], collapse.utf8.count > 64 { return (400, "BadCollapseId") }
        if let id = headers["apns-id"], UUID(uuidString: id) == nil { return (400, "BadMessageId") }
        guard !body.isEmpty else { return (400, "PayloadEmpty") }
        guard body.utf8.count <= (pushType == "voip" ? 5120 : 4096) else { return (413, "PayloadTooLarge") }
        guard (try? JSONSerialization.jsonObject(with: Data(body.utf8))) != nil else { return (400, "BadPayload") }
        guard let credentials else { return nil }
        guard let authorization = headers["authorization"], authorization.hasPrefix("bearer ") else {
            return (403, "MissingProviderToken")
        }
        let jwt = String(authorization.dropFirst("bearer ".count))
        let known = verified.withLock { $0[jwt] }
        switch known.map({ Result<(issuer: String, issuedAt: Int), any Error>.success($0) }) ?? verify(jwt: jwt, credentials: credentials) {
        case .success(let result):
            if known == nil { verified.withLock { cache in
                if cache.count > 1000 { cache.removeAll() }
                cache[jwt] = result
            } }
            claims = result
            if Int(Date().timeIntervalSince1970) - result.issuedAt > 3600 { return (403, "ExpiredProviderToken") }
            return nil
        case .failure:
            return (403, "InvalidProviderToken")
        }
    }

    private struct InvalidToken: Error {}

    /// Verifies an ES256 JWT as Apple does: header alg/kid, claims iss/iat (an integer), signature.
    static func verify(jwt: String, credentials: MockAPNsServer.Credentials) -> Result<(issuer: String, issuedAt: Int), any Error> {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerData = base64URLDecode(parts[0]), let claimsData = base64URLDecode(parts[1]), let signatureData = base64URLDecode(parts[2]),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any],
            header["alg"] as? String == "ES256", header["kid"] as? String == credentials.keyID,
            claims["iss"] as? String == credentials.teamID,
            let issuedAt = claims["iat"] as? Int,
            // Apple wants a whole number of seconds: the claim must be written as an integer.
            String(decoding: claimsData, as: UTF8.self).range(of: #""iat":\#(issuedAt)(?=[,}])"#, options: .regularExpression) != nil,
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureData),
            credentials.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8))
        else { return .failure(InvalidToken()) }
        return .success((credentials.teamID, issuedAt))
    }
}

func base64URLDecode(_ text: some StringProtocol) -> Data? {
    Base64URL.decode(text).map { Data($0) }
}
