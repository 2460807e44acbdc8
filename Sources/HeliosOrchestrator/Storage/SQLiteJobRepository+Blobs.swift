import Foundation
import GRDB
import GRDBSQLite

extension Database {
    /// Stores `data` as the `body` of the row of `table` whose `keyColumn` is `key` (inserted, or replaced whole),
    /// written a slice at a time through SQLite's incremental blob I/O into a zero-filled value of the right length.
    ///
    /// Binding a multi-megabyte value makes SQLite hold two more copies of it while the statement runs (the bound
    /// value and the record built from it): 14 MB for the 7 MB report of a 10,000-chunk job, at the end of the run
    /// where its peak memory was.
    func writeBody(_ data: Data, table: String, keyColumn: String, key: String) throws {
        try writeBody(SpooledText(data), table: table, keyColumn: keyColumn, key: key)
    }

    /// `writeBody` of `text`, read a piece at a time: spooled text is never in memory whole.
    func writeBody(_ text: SpooledText, table: String, keyColumn: String, key: String) throws {
        try execute(sql: "INSERT OR REPLACE INTO \(table) (\(keyColumn), body) VALUES (?, zeroblob(?))", arguments: [key, text.count])
        var blob: OpaquePointer?
        let opened = sqlite3_blob_open(sqliteConnection, "main", table, "body", lastInsertedRowID, 1, &blob)
        defer { sqlite3_blob_close(blob) }
        guard opened == SQLITE_OK else { throw lastError(opened) }
        var offset = 0
        try text.forEachPiece { piece in
            let written = sqlite3_blob_write(blob, piece.baseAddress!, Int32(piece.count), Int32(offset))
            guard written == SQLITE_OK else { throw lastError(written) }
            offset += piece.count
        }
    }

    private func lastError(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: sqliteConnection.map { String(cString: sqlite3_errmsg($0)) })
    }
}

