import Protocol
/// A hand-written msgpack writer for building inputs the real encoder would never
/// produce (wrong types, bad lengths, odd widths). Independent of msgpack-c on purpose.
indirect enum MsgPackValue: Sendable {
    case uint(UInt64)
    case int(Int64)
    case str(String)
    case bin([UInt8])
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case null
    case array([MsgPackValue])
    case map([(String, MsgPackValue)])
    /// Bytes written as they are, e.g. a header that lies about its length.
    case raw([UInt8])

    var bytes: [UInt8] {
        switch self {
        case .uint(let value):
            if value < 0x80 { return [UInt8(value)] }
            if value <= UInt64(UInt8.max) { return [0xcc, UInt8(value)] }
            if value <= UInt64(UInt16.max) { return [0xcd] + Self.bigEndian(value, width: 2) }
            if value <= UInt64(UInt32.max) { return [0xce] + Self.bigEndian(value, width: 4) }
            return [0xcf] + Self.bigEndian(value, width: 8)
        case .int(let value):
            if value >= 0 { return MsgPackValue.uint(UInt64(value)).bytes }
            if value >= -32 { return [UInt8(bitPattern: Int8(value))] }
            return [0xd3] + Self.bigEndian(UInt64(bitPattern: value), width: 8)
        case .str(let value):
            return Self.header(count: value.utf8.count, fix: 0xa0, fixLimit: 32, markers: [0xd9, 0xda, 0xdb])
                + Array(value.utf8)
        case .bin(let value):
            return Self.header(count: value.count, fix: nil, fixLimit: 0, markers: [0xc4, 0xc5, 0xc6]) + value
        case .float32(let value):
            return [0xca] + Self.bigEndian(UInt64(value.bitPattern), width: 4)
        case .float64(let value):
            return [0xcb] + Self.bigEndian(value.bitPattern, width: 8)
        case .bool(let value):
            return [value ? 0xc3 : 0xc2]
        case .null:
            return [0xc0]
        case .array(let values):
            return Self.header(count: values.count, fix: 0x90, fixLimit: 16, markers: [nil, 0xdc, 0xdd])
                + values.flatMap(\.bytes)
        case .map(let entries):
            return Self.header(count: entries.count, fix: 0x80, fixLimit: 16, markers: [nil, 0xde, 0xdf])
                + entries.flatMap { MsgPackValue.str($0.0).bytes + $0.1.bytes }
        case .raw(let bytes):
            return bytes
        }
    }

    static func bigEndian(_ value: UInt64, width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// markers: the 8-, 16- and 32-bit length forms (nil where the format has none).
    private static func header(count: Int, fix: UInt8?, fixLimit: Int, markers: [UInt8?]) -> [UInt8] {
        if let fix, count < fixLimit { return [fix | UInt8(count)] }
        if let marker = markers[0], count <= 0xff { return [marker, UInt8(count)] }
        if let marker = markers[1], count <= 0xffff { return [marker] + bigEndian(UInt64(count), width: 2) }
        return [markers[2]!] + bigEndian(UInt64(count), width: 4)
    }
}

/// Little-endian bytes of 4-byte values, as blobs carry them.
func littleEndianBlob(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) } }
}

/// The fields of a valid 2-token, k = 2 LatentChunk, in wire order.
func validChunkFields() -> [(String, MsgPackValue)] {
    [
        ("v", .uint(UInt64(ThinkLensVersion.wireProtocol))), ("t", .str("chunk")), ("id", .uint(42)), ("a", .uint(0)),
        ("hk", .str("layers.5.mlp")), ("fp", .uint(10)),
        ("ti", .bin(littleEndianBlob([100, 200]))), ("k", .uint(2)),
        ("ix", .bin(littleEndianBlob([1, 2, 3, 4]))),
        ("ac", .bin(littleEndianBlob([1.0, 2.0, 0.5, -1.0].map { Float($0).bitPattern }))),
    ]
}

/// The fields of a valid Assign with two hookpoints, in wire order.
func validAssignFields() -> [(String, MsgPackValue)] {
    [
        ("v", .uint(UInt64(ThinkLensVersion.wireProtocol))), ("t", .str("assign")), ("id", .uint(7)), ("a", .uint(1)), ("pr", .str("gsm8k-test-12")),
        ("pi", .bin(littleEndianBlob([151646, 9707, 13]))),
        ("g", .map([("mn", .uint(256)), ("te", .float32(0.6)), ("tp", .float64(0.95)), ("tk", .uint(0)),
                    ("sd", .uint(1234))])),
        ("hp", .array([
            .map([("c", .str("layers.5.mlp")), ("s", .str("layers.5.mlp"))]),
            .map([("c", .str("layers.10.mlp")), ("s", .str("layers.10.mlp"))]),
        ])),
        ("ip", .bool(false)),
    ]
}

extension Array where Element == (String, MsgPackValue) {
    func replacing(_ key: String, with value: MsgPackValue) -> Self {
        map { $0.0 == key ? ($0.0, value) : $0 }
    }

    func removing(_ key: String) -> Self {
        filter { $0.0 != key }
    }

    var encoded: [UInt8] { MsgPackValue.map(self).bytes }
}
