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
        try writeBody(count: data.count, table: table, keyColumn: keyColumn, key: key) { write in
            try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < bytes.count {
                    let length = min(bytes.count - offset, 1 << 16)
                    try write(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
                    offset += length
                }
            }
        }
    }

    /// `writeBody` of `text`, read from its temporary file a piece at a time: the text is never in memory whole.
    func writeBody(_ text: SpooledText, table: String, keyColumn: String, key: String) throws {
        try writeBody(count: text.count, table: table, keyColumn: keyColumn, key: key) { write in
            try text.forEachPiece { try write($0) }
        }
    }

    /// `writeBody` of a status's text, spooled or in memory.
    func writeBody(_ body: StatusBody, table: String, keyColumn: String, key: String) throws {
        switch body {
        case .data(let data): try writeBody(data, table: table, keyColumn: keyColumn, key: key)
        case .spooled(let text): try writeBody(text, table: table, keyColumn: keyColumn, key: key)
        }
    }

    /// Stores a body of `count` bytes that `produce` hands, in order, to the writer it is given.
    private func writeBody(count: Int, table: String, keyColumn: String, key: String,
                           _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try execute(sql: "INSERT OR REPLACE INTO \(table) (\(keyColumn), body) VALUES (?, zeroblob(?))", arguments: [key, count])
        var blob: OpaquePointer?
        let opened = sqlite3_blob_open(sqliteConnection, "main", table, "body", lastInsertedRowID, 1, &blob)
        defer { sqlite3_blob_close(blob) }
        guard opened == SQLITE_OK else { throw lastError(opened) }
        var offset = 0
        try produce { piece in
            guard !piece.isEmpty else { return }
            guard offset + piece.count <= count else { throw DatabaseError(resultCode: .SQLITE_TOOBIG, message: "the body is longer than announced") }
            let written = sqlite3_blob_write(blob, piece.baseAddress!, Int32(piece.count), Int32(offset))
            guard written == SQLITE_OK else { throw lastError(written) }
            offset += piece.count
        }
        guard offset == count else { throw DatabaseError(resultCode: .SQLITE_ERROR, message: "the body is \(offset) bytes, not the \(count) announced") }
    }

    private func lastError(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: sqliteConnection.map { String(cString: sqlite3_errmsg($0)) })
    }
}

/// A status's text on its way to the store: in memory, or spooled to a temporary file (``SQLiteJobRepository/body(of:)``).
enum StatusBody {
    case data(Data)
    case spooled(SpooledText)
}
