/// What a new registration may not exceed: per account (and app), per registering server, in all.
public struct RegistrationLimits: Sendable, Hashable {
    public var perAccount: Int
    public var perDomain: Int
    public var total: Int

    public init(perAccount: Int, perDomain: Int, total: Int) {
        self.perAccount = perAccount
        self.perDomain = perDomain
        self.total = total
    }

    /// Which limit `counts` (account, domain, total) would exceed with one more registration.
    public func refusal(account: Int, domain: Int, total: Int) -> RegistrationError? {
        if account >= perAccount { return .tooManyDevices(limit: perAccount) }
        if domain >= perDomain { return .domainLimitReached(limit: perDomain) }
        if total >= self.total { return .totalLimitReached(limit: self.total) }
        return nil
    }
}
