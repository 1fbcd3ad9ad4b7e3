import PostgresNIO

/// A PostgreSQL failure as Herald reports it: the server's SQLSTATE and message, or the client's own
/// error code. Never the query's binds, which hold tokens and secrets.
public struct PostgresStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The SQLSTATE (`23505` for a unique violation) or the client's code (`connectionError`).
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: PSQLError) {
        if let state = error.serverInfo?[.sqlState] {
            self.init(code: state, message: error.serverInfo?[.message] ?? "")
        } else {
            self.init(code: "\(error.code)", message: error.underlying.map { "\($0)" } ?? "")
        }
    }

    /// A row broke a unique constraint (two nodes for one device key, say).
    public var isUniqueViolation: Bool { code == "23505" }

    public var description: String { message.isEmpty ? "postgres \(code)" : "postgres \(code): \(message)" }
}
