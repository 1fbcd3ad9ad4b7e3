/// Which per-stanza limit a skipped stanza broke.
public enum StanzaLimit: Sendable, Hashable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case tooDeep(limit: Int)

    /// A short label for metrics and logs.
    public var label: String {
        switch self {
        case .tooLarge: "too_large"
        case .tooDeep: "too_deep"
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let limit): "stanza exceeds \(limit) bytes"
        case .tooDeep(let limit): "stanza nests deeper than \(limit) levels"
        }
    }
}
