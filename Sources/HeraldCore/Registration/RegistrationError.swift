public enum RegistrationError: Error, Sendable, Hashable {
    case serviceNotConfigured(PushVendor)
    case tooManyDevices(limit: Int)
    /// The account's server holds as many registrations as `registrations.max_per_domain` allows.
    case domainLimitReached(limit: Int)
    /// Herald holds as many registrations as `registrations.max_total` allows.
    case totalLimitReached(limit: Int)
    /// `registrations.allowed_domains` does not list the account's server.
    case domainNotAllowed
    case rateLimited
    /// The client-chosen node belongs to another account.
    case nodeTaken
    case notFound
}

extension RegistrationError {
    /// The metric label of a refusal by an abuse limit; nil for other failures.
    var refusalLabel: String? {
        switch self {
        case .rateLimited: "account_rate"
        case .tooManyDevices: "account_limit"
        case .domainLimitReached: "domain_limit"
        case .totalLimitReached: "total_limit"
        case .domainNotAllowed: "domain_not_allowed"
        case .serviceNotConfigured, .nodeTaken, .notFound: nil
        }
    }
}
