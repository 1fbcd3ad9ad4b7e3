/// One name per outcome, used alike by metrics (`outcome`, `status` labels), log lines and the admin API.

extension PublishOutcome {
    /// What became of a publish, without its details.
    public enum Kind: String, CaseIterable, Sendable {
        case delivered
        case unknownNode = "unknown_node"
        case forbidden
        case tokenRemoved = "token_removed"
        case retrying
        case notDelivered = "not_delivered"
        case unconfirmed
        case overloaded
        case failed
    }

    public var kind: Kind {
        switch self {
        case .delivered: .delivered
        case .unknownNode: .unknownNode
        case .forbidden: .forbidden
        case .tokenRemoved: .tokenRemoved
        case .retrying: .retrying
        case .notDelivered: .notDelivered
        case .unconfirmed: .unconfirmed
        case .overloaded: .overloaded
        case .failed: .failed
        }
    }

    public var label: String { kind.rawValue }
}

extension PushOutcome {
    /// What a vendor made of one push request, without its details.
    public enum Kind: String, CaseIterable, Sendable {
        case delivered
        case deadToken = "dead_token"
        case retry
        case unconfirmed
        case credentials
        case rejected
    }

    public var kind: Kind {
        switch self {
        case .delivered: .delivered
        case .deadToken: .deadToken
        case .retry: .retry
        case .unconfirmed: .unconfirmed
        case .credentials: .credentials
        case .rejected: .rejected
        }
    }

    public var label: String { kind.rawValue }
}
