/// APNs keeps separate sandbox and production token spaces.
public enum APNsEnvironment: String, Sendable, Hashable, CaseIterable, Codable {
    case sandbox, production
}
