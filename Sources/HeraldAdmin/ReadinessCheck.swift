/// One thing `/ready` looks at: the component connection, the store, an app's credentials.
public struct ReadinessCheck: Sendable, Codable, Equatable {
    public var name: String
    public var ready: Bool
    public var detail: String

    public init(name: String, ready: Bool, detail: String) {
        self.name = name
        self.ready = ready
        self.detail = detail
    }
}
