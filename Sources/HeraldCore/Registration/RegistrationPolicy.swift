/// Limits on what strangers may register: per account, per registering server, in all, and who may.
public struct RegistrationPolicy: Sendable, Hashable {
    /// Registrations one account may hold at once (per app).
    public var maximumDevicesPerAccount: Int
    /// Registration requests one account may make per `rateWindow`, counting re-registrations.
    public var maximumRegistrationsPerWindow: Int
    public var rateWindow: Duration
    /// Registrations the accounts of one XMPP server may hold in all.
    public var maximumRegistrationsPerDomain: Int
    /// Registrations Herald holds in all.
    public var maximumRegistrations: Int
    /// The XMPP servers whose accounts may register; nil for any.
    public var allowedDomains: Set<String>?

    public init(
        maximumDevicesPerAccount: Int = 20,
        maximumRegistrationsPerWindow: Int = 20,
        rateWindow: Duration = .seconds(60),
        maximumRegistrationsPerDomain: Int = 2_000_000,
        maximumRegistrations: Int = 10_000_000,
        allowedDomains: Set<String>? = nil
    ) {
        self.maximumDevicesPerAccount = maximumDevicesPerAccount
        self.maximumRegistrationsPerWindow = maximumRegistrationsPerWindow
        self.rateWindow = rateWindow
        self.maximumRegistrationsPerDomain = maximumRegistrationsPerDomain
        self.maximumRegistrations = maximumRegistrations
        self.allowedDomains = allowedDomains
    }

    public var limits: RegistrationLimits {
        RegistrationLimits(perAccount: maximumDevicesPerAccount, perDomain: maximumRegistrationsPerDomain, total: maximumRegistrations)
    }
}
