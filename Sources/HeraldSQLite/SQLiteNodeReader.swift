import Foundation
import GRDBSQLite
import HeraldCore
import Synchronization

/// Reads one registration by node straight through SQLite's C API, on the calling thread: the lookup
/// of every publish. Through GRDB the same read cost several times the read itself (a dispatch queue
/// and a pool per read, generic row decoding), which with a million registrations, most of them
/// missing any cache, was a fifth of Herald's CPU per publish. These are plain steps of one prepared
/// statement on read-only connections of their own: in WAL mode they see every committed write and
/// never wait for the writer.
///
/// A connection serves one caller at a time: callers check one out of a small pool (a connection per
/// thread that reads at once) and put it back.
final class SQLiteNodeReader: Sendable {
    private let path: String
    private let idle = Mutex<[Connection]>([])
    /// Idle connections kept beyond this are closed.
    private static let keptIdle = 8

    init(path: String) {
        self.path = path
    }

    func registration(node: String) throws -> Registration? {
        let connection = try idle.withLock { $0.popLast() } ?? Connection(path: path)
        defer {
            idle.withLock { idle in
                if idle.count < Self.keptIdle { idle.append(connection) }
            }
        }
        return try connection.registration(node: node)
    }

    struct ReadError: Error, CustomStringConvertible {
        let code: Int32
        let message: String
        var description: String { "SQLite error \(code): \(message)" }
    }

    /// One read-only connection and its prepared statement. Never used by two threads at once: it is
    /// in the pool or with exactly one caller.
    final class Connection: @unchecked Sendable {
        private let database: OpaquePointer
        private let statement: OpaquePointer

        init(path: String) throws {
            var database: OpaquePointer?
            let opened = sqlite3_open_v2(path, &database, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
            guard opened == SQLITE_OK, let database else {
                let message = database.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
                sqlite3_close_v2(database)
                throw ReadError(code: opened, message: message)
            }
            // Wait out a lock rather than fail, as the store's own readers do. 2 MiB of page cache each: the
            // index's upper pages, which every lookup walks; the rest of a large table is read from the OS's
            // cache either way, and a bigger one per connection only added to Herald's resident memory.
            sqlite3_busy_timeout(database, 5000)
            sqlite3_exec(database, "PRAGMA cache_size = -2048", nil, nil, nil)
            var statement: OpaquePointer?
            let sql = SQLiteRegistrationStore.selection + " WHERE node = ?"
            let prepared = sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            guard prepared == SQLITE_OK, let statement else {
                let message = String(cString: sqlite3_errmsg(database))
                sqlite3_close_v2(database)
                throw ReadError(code: prepared, message: message)
            }
            self.database = database
            self.statement = statement
        }

        deinit {
            sqlite3_finalize(statement)
            sqlite3_close_v2(database)
        }

        func registration(node: String) throws -> Registration? {
            defer {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            }
            var node = node
            let stepped = node.withUTF8 { bytes -> Int32 in
                // The bytes outlive the step: the binding is cleared before they go.
                sqlite3_bind_text(statement, 1, UnsafeRawPointer(bytes.baseAddress).map { $0.assumingMemoryBound(to: CChar.self) }, Int32(bytes.count), nil)
                return sqlite3_step(statement)
            }
            switch stepped {
            case SQLITE_ROW: return decode()
            case SQLITE_DONE: return nil
            default: throw ReadError(code: stepped, message: String(cString: sqlite3_errmsg(database)))
            }
        }

        /// The row as `SQLiteRegistrationStore` decodes it (`selection`, in order).
        private func decode() -> Registration {
            let p256dh = text(7)
            let auth = text(8)
            return Registration(
                node: text(0) ?? "",
                secret: text(1),
                app: text(2) ?? "",
                service: text(3).flatMap(PushVendor.init(rawValue:)) ?? .apns,
                dialect: text(4).flatMap(RegistrationDialect.init(rawValue:)) ?? .http,
                token: text(5) ?? "",
                voipToken: text(6),
                webPushKeys: p256dh.flatMap { key in auth.map { WebPushKeys(p256dh: key, auth: $0) } },
                environment: text(9).flatMap(APNsEnvironment.init(rawValue:)),
                accountDomain: text(10),
                accountKey: text(11),
                pushAccount: text(12),
                channel: text(13),
                deviceKey: text(14) ?? "",
                createdAt: Date(timeIntervalSince1970: sqlite3_column_double(statement, 15)),
                updatedAt: Date(timeIntervalSince1970: sqlite3_column_double(statement, 16)),
                lastPushAt: sqlite3_column_type(statement, 17) == SQLITE_NULL ? nil : Date(timeIntervalSince1970: sqlite3_column_double(statement, 17)),
                lastFailure: text(18)
            )
        }

        private func text(_ column: Int32) -> String? {
            guard sqlite3_column_type(statement, column) != SQLITE_NULL, let bytes = sqlite3_column_text(statement, column) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
        }
    }
}
