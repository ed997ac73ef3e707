import Foundation

/// The one reader of the bundle's CSV tables (RFC 4180: quoted fields may hold commas, doubled
/// quotes and newlines; records end with LF or CRLF). It scans bytes, and a record whose first
/// field the `keep` filter rejects is skipped without building its strings: feature_tokens.csv
/// of a full run holds millions of lines, of which a report needs a few thousand. Strict, as
/// every reader of ThinkLens's own files: text after a closing quote or a quote left open is an
/// error naming the file and record.
public enum CSVReader {
    public static func malformed(_ source: String, _ record: Int, _ what: String) -> RunDataError {
        RunDataError(subject: "\(source) record \(record)", reason: what + "; the table is damaged or not from ThinkLens format \(BundleLayout.formatVersion)")
    }

    /// Every record of `bytes`, the header included.
    public static func records(_ bytes: [UInt8], source: String) throws -> [[String]] {
        var rows: [[String]] = []
        try bytes.withUnsafeBufferPointer { buffer in
            try scan(buffer, source: source, keep: nil) { _, fields in rows.append(fields) }
        }
        return rows
    }

    /// Calls `body(record number, fields)` for each record of the file after its header,
    /// which must equal `header`. `keep` sees the first field as an integer (-1 when it is not one).
    /// The file's first line without its line break ("" for an empty file).
    public static func firstLine(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete (was it written by ThinkLens format \(BundleLayout.formatVersion)?)")
        }
        defer { try? handle.close() }
        var bytes: [UInt8] = []
        while let chunk = try? handle.read(upToCount: 4096), !chunk.isEmpty {
            if let end = chunk.firstIndex(of: 0x0A) { bytes += chunk[chunk.startIndex..<end]; break }
            bytes += chunk
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func forEachRecord(path: String, header: String, keep: ((Int) -> Bool)? = nil,
                                     _ body: (Int, [String]) throws -> Void) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunDataError(subject: path, reason: "cannot read; the bundle is incomplete (was it written by ThinkLens format \(BundleLayout.formatVersion)?)")
        }
        var sawHeader = false
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            try scan(raw.bindMemory(to: UInt8.self), source: path, keep: keep) { record, fields in
                if record == 1 {
                    guard fields.joined(separator: ",") == header else {
                        throw RunDataError(subject: path, reason: "header is '\(fields.joined(separator: ","))', expected '\(header)'")
                    }
                    sawHeader = true
                    return
                }
                try body(record, fields)
            }
        }
        if !sawHeader { throw RunDataError(subject: path, reason: "is empty; expected the header '\(header)'") }
    }

    /// The scanner: records numbered from 1; the first record is never filtered.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>, source: String, keep: ((Int) -> Bool)?,
                     _ body: (Int, [String]) throws -> Void) throws {
        var i = 0
        var record = 0
        var fields: [String] = []
        var field: [UInt8] = []
        while i < bytes.count {
            record += 1
            fields.removeAll(keepingCapacity: true)
            var skipping = false
            recordLoop: while true {
                field.removeAll(keepingCapacity: true)
                if i < bytes.count, bytes[i] == 0x22 {
                    i += 1
                    var closed = false
                    while i < bytes.count {
                        let c = bytes[i]
                        if c == 0x22 {
                            if i + 1 < bytes.count, bytes[i + 1] == 0x22 { if !skipping { field.append(0x22) }; i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if !skipping { field.append(c) }
                        i += 1
                    }
                    guard closed else { throw malformed(source, record, "has a quoted field that is not closed before the end of the file") }
                } else {
                    while i < bytes.count, bytes[i] != 0x2C, bytes[i] != 0x0A, bytes[i] != 0x0D {
                        if !skipping { field.append(bytes[i]) }
                        i += 1
                    }
                }
                if fields.isEmpty, !skipping, record > 1, let keep {
                    var n = 0, digits = 0
                    for c in field where c >= 0x30 && c <= 0x39 && digits < 18 { n = n * 10 + Int(c - 0x30); digits += 1 }
                    if !keep(digits == field.count && digits > 0 ? n : -1) { skipping = true }
                }
                if !skipping { fields.append(String(decoding: field, as: UTF8.self)) }
                if i >= bytes.count { break recordLoop }
                switch bytes[i] {
                case 0x2C: i += 1
                case 0x0D: i += 1; if i < bytes.count, bytes[i] == 0x0A { i += 1 }; break recordLoop
                case 0x0A: i += 1; break recordLoop
                default:
                    throw malformed(source, record, "has text after a closing quote")
                }
            }
            if !skipping { try body(record, fields) }
        }
    }
}
