import CryptoExtras
import Foundation
import NIOCore
import Synchronization

/// A mock FCM for tests and `herald mock-vendor`: an OAuth token endpoint (`/token`) that verifies the
/// RS256 assertion against the service account's public key, and `messages:send` that accepts only
/// the access tokens it issued. Answers can be scripted per registration token.
public final class MockFCMServer: Sendable {
    public enum Script: Sendable, Hashable {
        case success
        case error(status: Int, code: String, retryAfter: Int? = nil, tokenViolation: Bool = false)

        public static let unregistered = Script.error(status: 404, code: "UNREGISTERED")
        public static let senderIDMismatch = Script.error(status: 403, code: "SENDER_ID_MISMATCH")
        public static let invalidToken = Script.error(status: 400, code: "INVALID_ARGUMENT", tokenViolation: true)
        public static let invalidArgument = Script.error(status: 400, code: "INVALID_ARGUMENT")
        public static let unavailable = Script.error(status: 503, code: "UNAVAILABLE")
        public static let internalError = Script.error(status: 500, code: "INTERNAL")
        public static let thirdPartyAuth = Script.error(status: 401, code: "THIRD_PARTY_AUTH_ERROR")
        public static func quotaExceeded(retryAfter: Int) -> Script { .error(status: 429, code: "QUOTA_EXCEEDED", retryAfter: retryAfter) }
    }

    /// A message FCM accepted or refused, as sent.
    public struct Message: Sendable {
        public var token: String
        public var json: [String: any Sendable]
        public var status: Int
        /// When the mock decided its answer, before the answer left: a lower bound on when the sender heard it.
        public var answeredAt: Date
    }

    final class State: Sendable {
        let issued = Mutex<Set<String>>([])
        let tokenRequests = Atomic<Int>(0)
        let assertions = Mutex<[String]>([])
        let messages = Mutex<[Message]>([])
        let scripts = Mutex<[String: Script]>([:])
        let expiresIn = Atomic<Int>(3600)
        let deadTokenPrefix = Mutex<String?>(nil)
        let keepsMessages = Atomic<Bool>(true)
        let accepted = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        /// Accepted messages per token, while messages are kept.
        let acceptedPerToken = Mutex<[String: Int]>([:])
        /// Statuses the token endpoint answers with, one per request, before it issues tokens again.
        let tokenFailures = Mutex<[Int]>([])
    }

    private let server: MockHTTP2Server
    let state: State
    public let projectID: String

    public static func start(
        certificateFile: String,
        privateKeyFile: String,
        publicKey: _RSA.Signing.PublicKey,
        projectID: String,
        host: String = "127.0.0.1",
        port: Int = 0
    ) async throws -> MockFCMServer {
        let state = State()
        let holder = Mutex<String>("")
        let server = try await MockHTTP2Server.start(certificateFile: certificateFile, privateKeyFile: privateKeyFile, host: host, port: port) { request in
            if request.path == "/token" { return token(request, state: state, publicKey: publicKey, audience: holder.withLock { $0 }) }
            if request.path == "/v1/projects/\(projectID)/messages:send" { return send(request, state: state, projectID: projectID) }
            return .json(404, #"{"error":{"code":404,"status":"NOT_FOUND","message":"no such path"}}"#)
        }
        holder.withLock { $0 = "https://127.0.0.1:\(server.port)/token" }
        return MockFCMServer(server: server, state: state, projectID: projectID)
    }

    private init(server: MockHTTP2Server, state: State, projectID: String) {
        self.server = server
        self.state = state
        self.projectID = projectID
    }

    public var url: String { server.url }
    public var port: Int { server.port }
    public var tokenURI: String { server.url + "/token" }
    public var tokenRequests: Int { state.tokenRequests.load(ordering: .relaxed) }
    public var assertions: [String] { state.assertions.withLock { $0 } }
    public var messages: [Message] { state.messages.withLock { $0 } }

    public func script(_ token: String, _ script: Script) {
        state.scripts.withLock { $0[token] = script }
    }

    /// Makes every access token issued so far invalid, as if it expired.
    public func revokeAccessTokens() {
        state.issued.withLock { $0.removeAll() }
    }

    /// Tokens starting with `prefix` are answered 404 UNREGISTERED, as FCM answers for uninstalled apps.
    public func treatAsUnregistered(prefix: String) {
        state.deadTokenPrefix.withLock { $0 = prefix }
    }

    /// Stops keeping each message (long benchmark runs); the counts go on.
    public func keepMessages(_ keep: Bool) {
        state.keepsMessages.store(keep, ordering: .relaxed)
    }

    /// Messages answered 200, and answered with an error.
    public var acceptedCount: Int { state.accepted.load(ordering: .relaxed) }
    public var refusedCount: Int { state.refused.load(ordering: .relaxed) }
    /// How many messages each token had accepted (kept while messages are kept).
    public var acceptedPerToken: [String: Int] { state.acceptedPerToken.withLock { $0 } }

    /// The token endpoint answers the next requests with these statuses, in order, then issues tokens again.
    public func failTokenRequests(_ statuses: [Int]) {
        state.tokenFailures.withLock { $0 = statuses }
    }

    public func setExpiresIn(_ seconds: Int) {
        state.expiresIn.store(seconds, ordering: .relaxed)
    }

    public func stop() async {
        await server.stop()
    }

    private static func token(_ request: MockHTTPRequest, state: State, publicKey: _RSA.Signing.PublicKey, audience: String) -> MockHTTPResponse {
        state.tokenRequests.add(1, ordering: .relaxed)
        let failure = state.tokenFailures.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        if let failure {
            return .json(failure, #"{"error":"backend_error"}"#)
        }
        let form = Dictionary(
            String(decoding: request.body, as: UTF8.self).split(separator: "&").compactMap { pair -> (String, String)? in
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                return (String(parts[0]).removingPercentEncoding ?? "", String(parts[1]).removingPercentEncoding ?? "")
            },
            uniquingKeysWith: { first, _ in first }
        )
        guard request.headers["content-type"] == "application/x-www-form-urlencoded",
            form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer",
            let assertion = form["assertion"]
        else {
            return .json(400, #"{"error":"unsupported_grant_type"}"#)
        }
        state.assertions.withLock { $0.append(assertion) }
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let header = base64URLDecode(parts[0]).flatMap({ try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }),
            let claims = base64URLDecode(parts[1]).flatMap({ try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }),
            let signature = base64URLDecode(parts[2]),
            header["alg"] as? String == "RS256",
            publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: Data("\(parts[0]).\(parts[1])".utf8), padding: .insecurePKCS1v1_5),
            claims["scope"] as? String == "https://www.googleapis.com/auth/firebase.messaging",
            claims["aud"] as? String == audience,
            let iat = claims["iat"] as? Int, let exp = claims["exp"] as? Int, exp > iat, exp - iat <= 3600,
            exp > Int(Date().timeIntervalSince1970), claims["iss"] is String
        else {
            return .json(400, #"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
        }
        let token = "ya29.mock-\(UUID().uuidString)"
        state.issued.withLock { _ = $0.insert(token) }
        return .json(200, #"{"access_token":"\#(token)","expires_in":\#(state.expiresIn.load(ordering: .relaxed)),"token_type":"Bearer"}"#)
    }

    private static func send(_ request: MockHTTPRequest, state: State, projectID: String) -> MockHTTPResponse {
        let bearer = request.headers["authorization"].map { String($0.dropFirst("Bearer ".count)) } ?? ""
        guard state.issued.withLock({ $0.contains(bearer) }) else {
            return .json(401, #"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#)
        }
        guard let object = try? JSONSerialization.jsonObject(with: request.body) as? [String: Any],
            let message = object["message"] as? [String: Any], let token = message["token"] as? String
        else {
            return .json(400, #"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"bad message"}}"#)
        }
        // FCM data values must all be strings.
        if let data = message["data"] as? [String: Any], !data.values.allSatisfy({ $0 is String }) {
            return .json(400, #"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"data values must be strings"}}"#)
        }
        let dead = state.deadTokenPrefix.withLock { prefix in prefix.map { token.hasPrefix($0) } ?? false }
        let script = dead ? Script.unregistered : state.scripts.withLock { $0[token] } ?? .success
        let response: MockHTTPResponse
        switch script {
        case .success:
            response = .json(200, #"{"name":"projects/\#(projectID)/messages/\#(UInt32.random(in: .min ... .max))"}"#)
        case .error(let status, let code, let retryAfter, let tokenViolation):
            let violation = tokenViolation
                ? #",{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token","description":"Invalid registration token"}]}"#
                : ""
            let body = #"{"error":{"code":\#(status),"message":"scripted","status":"\#(code == "UNREGISTERED" ? "NOT_FOUND" : code)","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"\#(code)"}\#(violation)]}}"#
            response = .json(status, body, headers: retryAfter.map { [("retry-after", String($0))] } ?? [])
        }
        if response.status == 200 {
            state.accepted.add(1, ordering: .relaxed)
        } else {
            state.refused.add(1, ordering: .relaxed)
        }
        guard state.keepsMessages.load(ordering: .relaxed) else { return response }
        if response.status == 200 { state.acceptedPerToken.withLock { $0[token, default: 0] += 1 } }
        let sendable = message.mapValues { "\($0)" as any Sendable }
        state.messages.withLock { $0.append(Message(token: token, json: sendable.merging(["_raw": String(decoding: request.body, as: UTF8.self)]) { a, _ in a }, status: response.status, answeredAt: Date())) }
        return response
    }
}
