/// A walk over raw msgpack bytes that runs before msgpack-c sees them.
///
/// Why: msgpack-c's unpacker reserves `count × sizeof(msgpack_object)` bytes (24 each) as
/// soon as it reads an array or map header, before it knows whether the input holds that
/// many elements; five bytes declaring 2³² elements would ask for ~100 GB. This walk checks
/// every declared length against the bytes that remain and against `DecodingLimits`, bounds
/// nesting and the total element count, and finds truncation and trailing bytes, so that
/// msgpack-c only ever allocates in proportion to the input and never more than
/// `maxTotalElements` objects. It allocates nothing itself.
struct StructureCheck {
    /// Message map → hookpoints array → hookpoint map is the deepest any message nests.
    static let maxDepth = 3

    private let bytes: UnsafeRawBufferPointer
    private let limits: DecodingLimits
    private var offset = 0
    /// Byte range of the top-level key whose value is being walked, named only on error.
    private var currentKey: Range<Int>?
    /// Array elements plus map keys and values declared so far, over all containers.
    private var declaredElements = 0

    init(bytes: UnsafeRawBufferPointer, limits: DecodingLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Throws unless `bytes` holds exactly one well-formed msgpack map within the limits.
    static func check(_ bytes: UnsafeRawBufferPointer, limits: DecodingLimits) throws(ProtocolError) {
        guard bytes.count <= limits.maxMessageBytes else {
            throw .messageTooLarge(bytes: bytes.count, limit: limits.maxMessageBytes)
        }
        guard let first = bytes.first else { throw .truncated(field: "message") }
        let isMap = (0x80...0x8f).contains(first) || first == 0xde || first == 0xdf
        guard isMap else { throw .notAMap(found: msgpackFormatName(first)) }
        var walk = StructureCheck(bytes: bytes, limits: limits)
        try walk.skipValue(depth: 1)
        if walk.offset != bytes.count {
            throw .trailingBytes(count: bytes.count - walk.offset)
        }
    }

    private var fieldName: String {
        guard let key = currentKey else { return "message" }
        return WireKey.fieldName(wire: UnsafeRawBufferPointer(rebasing: bytes[key]))
    }

    private var remaining: Int { bytes.count - offset }

    @inline(__always)
    private mutating func take(_ count: Int) throws(ProtocolError) -> Int {
        guard count <= remaining else { throw .truncated(field: fieldName) }
        let start = offset
        offset += count
        return start
    }

    /// The byte at `index`, which `take` has already checked to be inside the input.
    @inline(__always)
    private func byte(at index: Int) -> UInt8 {
        bytes.baseAddress.unsafelyUnwrapped.load(fromByteOffset: index, as: UInt8.self)
    }

    /// Big-endian unsigned integer of `width` bytes (1, 2 or 4), as msgpack lengths are written.
    @inline(__always)
    private mutating func length(width: Int) throws(ProtocolError) -> Int {
        let start = try take(width)
        var value = 0
        for index in start..<start + width {
            value = value << 8 | Int(byte(at: index))
        }
        return value
    }

    @inline(__always)
    private mutating func skipBytes(_ count: Int) throws(ProtocolError) {
        _ = try take(count)
    }

    private mutating func skipString(length: Int) throws(ProtocolError) {
        guard length <= limits.maxStringBytes else {
            throw .overBound(field: fieldName, count: length, bound: limits.maxStringBytes)
        }
        try skipBytes(length)
    }

    private mutating func skipArray(count: Int, depth: Int) throws(ProtocolError) {
        try checkCollection(count: count, elementsPerEntry: 1, depth: depth)
        for _ in 0..<count {
            try skipValue(depth: depth + 1)
        }
    }

    private mutating func skipMap(count: Int, depth: Int) throws(ProtocolError) {
        try checkCollection(count: count, elementsPerEntry: 2, depth: depth)
        for _ in 0..<count {
            if depth == 1 {
                // Name the field by its key when the key is a string, for error messages.
                currentKey = nil
                let keyStart = offset
                try skipValue(depth: depth + 1)
                currentKey = topLevelStringKey(from: keyStart)
            } else {
                try skipValue(depth: depth + 1)
            }
            try skipValue(depth: depth + 1)
        }
        if depth == 1 { currentKey = nil }
    }

    private func topLevelStringKey(from start: Int) -> Range<Int>? {
        let first = byte(at: start)
        if (0xa0...0xbf).contains(first) { return start + 1..<offset }
        if first == 0xd9 { return start + 2..<offset }
        return nil
    }

    /// Each element takes at least one byte, so a count beyond the remaining bytes is a lie.
    private mutating func checkCollection(count: Int, elementsPerEntry: Int, depth: Int) throws(ProtocolError) {
        guard depth <= Self.maxDepth else {
            throw .nestingTooDeep(field: fieldName, limit: Self.maxDepth)
        }
        guard count <= limits.maxCollectionCount else {
            throw .overBound(field: fieldName, count: count, bound: limits.maxCollectionCount)
        }
        guard count * elementsPerEntry <= remaining else { throw .truncated(field: fieldName) }
        // msgpack-c spends 24 bytes per element; this keeps its total small, not merely proportional.
        declaredElements += count * elementsPerEntry
        guard declaredElements <= limits.maxTotalElements else {
            throw .overBound(field: fieldName, count: declaredElements, bound: limits.maxTotalElements)
        }
    }

    private mutating func skipValue(depth: Int) throws(ProtocolError) {
        let marker = byte(at: try take(1))
        switch marker {
        case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3:
            return  // fixint, nil, bool
        case 0x80...0x8f: try skipMap(count: Int(marker & 0x0f), depth: depth)
        case 0x90...0x9f: try skipArray(count: Int(marker & 0x0f), depth: depth)
        case 0xa0...0xbf: try skipString(length: Int(marker & 0x1f))
        case 0xc1: throw .malformed(offset: offset - 1, reason: "byte 0xc1 is never used by msgpack")
        case 0xc4: try skipBytes(try length(width: 1))  // bin 8
        case 0xc5: try skipBytes(try length(width: 2))  // bin 16
        case 0xc6: try skipBytes(try length(width: 4))  // bin 32
        case 0xc7: try skipBytes(try length(width: 1) + 1)  // ext 8: length, type, data
        case 0xc8: try skipBytes(try length(width: 2) + 1)
        case 0xc9: try skipBytes(try length(width: 4) + 1)
        case 0xca: try skipBytes(4)  // float 32
        case 0xcb: try skipBytes(8)  // float 64
        case 0xcc, 0xd0: try skipBytes(1)
        case 0xcd, 0xd1: try skipBytes(2)
        case 0xce, 0xd2: try skipBytes(4)
        case 0xcf, 0xd3: try skipBytes(8)
        case 0xd4: try skipBytes(2)  // fixext 1: type, data
        case 0xd5: try skipBytes(3)
        case 0xd6: try skipBytes(5)
        case 0xd7: try skipBytes(9)
        case 0xd8: try skipBytes(17)
        case 0xd9: try skipString(length: try length(width: 1))
        case 0xda: try skipString(length: try length(width: 2))
        case 0xdb: try skipString(length: try length(width: 4))
        case 0xdc: try skipArray(count: try length(width: 2), depth: depth)
        case 0xdd: try skipArray(count: try length(width: 4), depth: depth)
        case 0xde: try skipMap(count: try length(width: 2), depth: depth)
        case 0xdf: try skipMap(count: try length(width: 4), depth: depth)
        default: preconditionFailure("every byte value is a msgpack marker")
        }
    }

    /// Name of the msgpack format a marker byte starts, for `notAMap`.
    static func msgpackFormatName(_ marker: UInt8) -> String {
        switch marker {
        case 0x00...0x7f, 0xcc...0xcf: return "uint"
        case 0xe0...0xff, 0xd0...0xd3: return "int"
        case 0x80...0x8f, 0xde, 0xdf: return "map"
        case 0x90...0x9f, 0xdc, 0xdd: return "array"
        case 0xa0...0xbf, 0xd9...0xdb: return "str"
        case 0xc0: return "nil"
        case 0xc2, 0xc3: return "bool"
        case 0xc4...0xc6: return "bin"
        case 0xca: return "float32"
        case 0xcb: return "float64"
        case 0xc7...0xc9, 0xd4...0xd8: return "ext"
        default: return "invalid byte 0x\(String(marker, radix: 16))"
        }
    }
}
