import Foundation
import GRDB
import Testing

@testable import HeraldSQLite

@Suite struct SQLiteWriterTests {
    private func makeWriter() throws -> (SQLiteWriter, DatabasePool) {
        let pool = try DatabasePool(path: temporaryDatabasePath().replacingOccurrences(of: "/herald.sqlite", with: "-writer.sqlite"))
        try pool.write { db in try db.execute(sql: "CREATE TABLE item (id INTEGER PRIMARY KEY, value TEXT NOT NULL)") }
        return (SQLiteWriter(pool: pool), pool)
    }

    @Test func concurrentWritesShareCommitsAndEachGetsItsOwnResult() async throws {
        let (writer, pool) = try makeWriter()
        let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<2_000 {
                group.addTask {
                    try await writer.write { db in
                        try db.execute(sql: "INSERT INTO item (value) VALUES (?)", arguments: ["v\(index)"])
                        return db.lastInsertedRowID
                    }
                }
            }
            return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
        }
        #expect(ids.count == 2_000)
        #expect(try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM item") } == 2_000)
        #expect(writer.transactionsCommitted < 2_000, "writes waiting together went into one transaction")
    }

    @Test func aFailingWriteUndoesOnlyItselfAndTheOthersCommit() async throws {
        let (writer, pool) = try makeWriter()
        struct Refused: Error {}
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        try await writer.write { db in
                            try db.execute(sql: "INSERT INTO item (id, value) VALUES (?, 'x')", arguments: [index])
                            if index.isMultiple(of: 10) { throw Refused() }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 90)
        let stored = try await pool.read { db in try Int.fetchAll(db, sql: "SELECT id FROM item ORDER BY id") }
        #expect(stored.count == 90)
        #expect(!stored.contains { $0.isMultiple(of: 10) })
    }
}
