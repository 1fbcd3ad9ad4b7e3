import HeraldSupport

/// What became of one vendor push, as the dispatcher reports it to the state machine (after removing a
/// dead registration or correcting one, which is I/O).
public enum DeliveryVerdict: Sendable, Hashable {
    case delivered
    case tokenRemoved(reason: String)
    /// The registration was gone by the time its push was due.
    case registrationGone
    case retry(reason: String, retryAfter: Duration?)
    case unconfirmed(reason: String)
    case failed(reason: String)
}
