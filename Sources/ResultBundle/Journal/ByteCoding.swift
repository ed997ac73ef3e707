import Foundation

/// Little-endian byte encoding for journal records: fixed-width integers, length-prefixed
/// strings and arrays. Arrays of numbers are copied in bulk, which is what makes
/// journalling hundreds of thousands of latent rows a second cheap.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func i64(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }

    mutating func f32(_ v: Float) { u32(v.bitPattern) }

    mutating func f64(_ v: Double) { u64(v.bitPattern) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            u64(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func optionalString(_ s: String?) {
        if let s { u8(1); string(s) } else { u8(0) }
    }

    mutating func optionalInt(_ v: Int?) {
        if let v { u8(1); i64(v) } else { u8(0) }
    }

    /// Raw element bytes without a count (the count is written elsewhere).
    mutating func raw<T>(_ values: [T]) {
        precondition(isLittleEndianHost, "journal encoding assumes a little-endian host")
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    mutating func array<T>(_ values: [T]) {
        u64(UInt64(values.count))
        raw(values)
    }
}

let isLittleEndianHost: Bool = 1.littleEndian == 1

/// Reads what `ByteWriter` wrote; every read is bounds-checked and a short or malformed
/// buffer is an error naming `context` (a file and record offset).
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0
    let context: String

    init(_ buffer: UnsafeRawBufferPointer, context: String) {
        self.buffer = buffer
        self.context = context
    }

    private func need(_ n: Int, _ what: String) throws {
        guard n >= 0, offset <= buffer.count, n <= buffer.count - offset else {
            throw RunDataError(subject: context, reason: "record ends early reading \(what) (need \(n) bytes at offset \(offset) of \(buffer.count)); the journal is corrupt")
        }
    }

    mutating func u8(_ what: String) throws -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return buffer[offset]
    }

    mutating func u32(_ what: String) throws -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64(_ what: String) throws -> UInt64 {
        try need(8, what)
        defer { offset += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func i64(_ what: String) throws -> Int { Int(Int64(bitPattern: try u64(what))) }

    mutating func f32(_ what: String) throws -> Float { Float(bitPattern: try u32(what)) }

    mutating func f64(_ what: String) throws -> Double { Double(bitPattern: try u64(what)) }

    mutating func count(_ what: String, elementSize: Int) throws -> Int {
        let n = try u64(what)
        guard n <= UInt64(buffer.count) / UInt64(max(elementSize, 1)) else {
            throw RunDataError(subject: context, reason: "\(what) claims \(n) elements, more than the record holds; the journal is corrupt")
        }
        return Int(n)
    }

    mutating func string(_ what: String) throws -> String {
        let n = try count(what, elementSize: 1)
        try need(n, what)
        defer { offset += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n]), as: UTF8.self)
    }

    mutating func optionalString(_ what: String) throws -> String? {
        try u8(what) == 0 ? nil : try string(what)
    }

    mutating func optionalInt(_ what: String) throws -> Int? {
        try u8(what) == 0 ? nil : try i64(what)
    }

    mutating func raw<T>(_ type: T.Type, count n: Int, _ what: String) throws -> [T] {
        let size = MemoryLayout<T>.stride
        let (bytes, overflow) = n.multipliedReportingOverflow(by: size)
        guard !overflow else { throw RunDataError(subject: context, reason: "\(what) is too large; the journal is corrupt") }
        try need(bytes, what)
        defer { offset += bytes }
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            if bytes > 0 {
                memcpy(out.baseAddress!, buffer.baseAddress! + offset, bytes)
            }
            initialized = n
        }
    }

    mutating func array<T>(_ type: T.Type, _ what: String) throws -> [T] {
        let n = try count(what, elementSize: MemoryLayout<T>.stride)
        return try raw(type, count: n, what)
    }
}
