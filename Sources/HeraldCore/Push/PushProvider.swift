import Foundation

/// A vendor client: APNs, FCM, Web Push. Implementations map every vendor answer to a `PushOutcome`
/// in one place and never throw: a failure is an outcome too.
public protocol PushProvider: Sendable {
    func send(_ push: PushRequest) async -> PushOutcome
}

/// A vendor client that can also send without a task: the dispatcher's fast path uses this when a
/// provider offers it, and `send(_:) async` otherwise.
public protocol CallbackPushProvider: PushProvider {
    /// Sends `push`; `completion` gets the outcome once, on whatever thread the vendor's answer arrives.
    func send(_ push: PushRequest, completion: @escaping @Sendable (PushOutcome) -> Void)
}
