import Foundation
import HeraldCore
import HeraldHTTP2
import HeraldSupport
import NIOCore
import Synchronization
import VendorSupport

/// OAuth 2.0 access tokens for FCM, from the service account's RS256-signed assertion.
///
/// A token is reused until shortly before it expires; one refresh runs at a time and every request
/// that needs a token meanwhile waits for it. A token FCM refuses (401) is dropped, once. After a
/// failed fetch, requests fail at once for a backoff that grows with each failure in a row, so an
/// outage of the token endpoint costs it one request per backoff, not one per push.
public final class FCMAccessTokens: Sendable {
    public static let scope = "https://www.googleapis.com/auth/firebase.messaging"
    /// Refresh this long before the token's stated expiry.
    static let margin: TimeInterval = 300

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// The endpoint was out of reach or answered 5xx (or 429): worth retrying, the credentials may
        /// well be fine. Otherwise (400 invalid_grant, 401, 403) the service account itself is refused.
        public let isTransient: Bool
    }

    private enum State {
        case empty
        case valid(token: String, expires: Date)
        case refreshing([@Sendable (Result<String, any Error>) -> Void])
        case backingOff(until: Date, error: any Error)
    }

    private let account: ServiceAccount
    private let client: HTTP2Client
    private let tokenPath: String
    private let clock: any ServerClock
    private let state = Mutex<State>(.empty)
    private let refreshes = Atomic<Int>(0)
    private let failuresInARow = Atomic<Int>(0)
    private let backoff: Backoff

    public init(
        account: ServiceAccount,
        client: HTTP2Client,
        tokenPath: String,
        backoff: Backoff = Backoff(initialDelay: .seconds(1), maximumDelay: .seconds(60)),
        clock: any ServerClock = SystemClock()
    ) {
        self.account = account
        self.client = client
        self.tokenPath = tokenPath
        self.backoff = backoff
        self.clock = clock
    }

    /// How many times a token has been fetched.
    public var refreshCount: Int { refreshes.load(ordering: .relaxed) }

    public func token() async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            token { continuation.resume(with: $0) }
        }
    }

    /// `token()` without a task: `completion` gets the token at once while one is valid, else when the
    /// refresh under way (or started now) ends, on the thread that ends it.
    public func token(completion: @escaping @Sendable (Result<String, any Error>) -> Void) {
        enum Step { case use(String), refresh, wait, fail(any Error) }
        let current = clock.wallTime
        let step: Step = state.withLock { state in
            switch state {
            case .valid(let token, let expires) where current < expires:
                return .use(token)
            case .backingOff(let until, let error) where current < until:
                return .fail(error)
            case .refreshing(var waiters):
                waiters.append(completion)
                state = .refreshing(waiters)
                return .wait
            case .empty, .valid, .backingOff:
                state = .refreshing([completion])
                return .refresh
            }
        }
        switch step {
        case .use(let token): completion(.success(token))
        case .fail(let error): completion(.failure(error))
        case .wait: break
        case .refresh: refresh()
        }
    }

    /// Forgets `token` after FCM refused it, so the next request fetches a new one.
    public func invalidate(_ token: String) {
        state.withLock { state in
            if case .valid(let current, _) = state, current == token { state = .empty }
        }
    }

    private func refresh() {
        refreshes.add(1, ordering: .relaxed)
        // The refresh runs as a future chain on the HTTP/2 client's event loop; its outcome is handed to
        // everyone waiting, so no task outlives the requests that asked for the token.
        let issuedAt = clock.wallTime
        let assertion: String
        do {
            assertion = try makeAssertion(issuedAt: issuedAt)
        } catch {
            return finish(.failure(Failure(description: "signing the assertion failed", isTransient: false)))
        }
        let body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + assertion
        let request = HTTP2Request(
            path: tokenPath,
            headers: [("content-type", "application/x-www-form-urlencoded")],
            body: ByteBuffer(string: body)
        )
        client.executeFuture(request).whenComplete { result in
            switch result {
            case .failure(let error):
                self.finish(.failure(error))
            case .success(let response):
                guard response.status == 200,
                    let object = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any],
                    let token = object["access_token"] as? String
                else {
                    let transient = response.status >= 500 || response.status == 429
                    return self.finish(.failure(Failure(description: "token endpoint answered \(response.status)", isTransient: transient)))
                }
                let lifetime = (object["expires_in"] as? Int).map(TimeInterval.init) ?? 3600
                let usable = lifetime > 2 * Self.margin ? lifetime - Self.margin : lifetime / 2
                self.finish(.success((token, issuedAt.addingTimeInterval(usable))))
            }
        }
    }

    private func finish(_ result: Result<(String, Date), any Error>) {
        let failures: Int
        switch result {
        case .success: failures = 0
        case .failure: failures = failuresInARow.add(1, ordering: .relaxed).newValue
        }
        if failures == 0 { failuresInARow.store(0, ordering: .relaxed) }
        let retryAt = clock.wallTime.addingTimeInterval(backoff.delay(attempt: max(0, failures - 1)).seconds)
        let waiters: [@Sendable (Result<String, any Error>) -> Void] = state.withLock { state in
            guard case .refreshing(let waiters) = state else { return [] }
            switch result {
            case .success(let (token, expires)): state = .valid(token: token, expires: expires)
            case .failure(let error): state = .backingOff(until: retryAt, error: error)
            }
            return waiters
        }
        for waiter in waiters { waiter(result.map(\.0)) }
    }

    /// The JWT-bearer assertion: RS256, `kid` = the key's id, claims iss/scope/aud/iat/exp (1 hour).
    func makeAssertion(issuedAt: Date) throws -> String {
        var header = JSONWriter()
        header.beginObject()
        header.string("alg", "RS256")
        header.string("typ", "JWT")
        header.string("kid", account.privateKeyID)
        header.endObject()
        var claims = JSONWriter()
        let iat = Int(issuedAt.timeIntervalSince1970)
        claims.beginObject()
        claims.string("iss", account.clientEmail)
        claims.string("scope", Self.scope)
        claims.string("aud", account.tokenURI)
        claims.number("iat", iat)
        claims.number("exp", iat + 3600)
        claims.endObject()
        return try JWT.sign(header: header.text, claims: claims.text, with: .rs256(account.privateKey))
    }
}
