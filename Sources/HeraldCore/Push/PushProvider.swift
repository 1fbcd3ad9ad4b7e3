import Foundation

/// A vendor client: APNs, FCM, Web Push. Implementations map every vendor answer to a `PushOutcome`
/// in one place and never throw: a failure is an outcome too.
public protocol PushProvider: Sendable {
    func send(_ push: PushRequest) async -> PushOutcome
}
