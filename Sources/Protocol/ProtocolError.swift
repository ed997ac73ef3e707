/// Why bytes from a peer are not a valid message. Every case that concerns a field names
/// it by its Swift name (nested fields as "generation.topK", "hookpoints[2].sae").
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is larger than `DecodingLimits.maxMessageBytes`.
    case messageTooLarge(bytes: Int, limit: Int)
    /// The input ends inside a value, or a declared length runs past its end.
    case truncated(field: String)
    /// Bytes remain after the message's map.
    case trailingBytes(count: Int)
    /// A byte that msgpack never uses (0xc1) or that msgpack-c rejected.
    case malformed(offset: Int, reason: String)
    /// The message is not a msgpack map.
    case notAMap(found: String)
    /// Containers nest deeper than any message does.
    case nestingTooDeep(field: String, limit: Int)
    case unsupportedVersion(found: Int, supported: Int)
    case unknownType(String)
    case missingField(String)
    case unknownField(String)
    case duplicateField(String)
    case mistypedField(String, expected: String, found: String)
    /// A value of the right type that the field cannot hold (negative count, unknown enum name, ...).
    case invalidValue(field: String, reason: String)
    /// A string that is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A blob whose byte count does not match the element count its shape declares.
    case blobLengthMismatch(field: String, bytes: Int, expectedBytes: Int)
    /// An array, map, string or blob with more elements than `DecodingLimits` allows.
    case overBound(field: String, count: Int, bound: Int)

    public var description: String {
        switch self {
        case let .messageTooLarge(bytes, limit):
            return "message of \(bytes) bytes exceeds the limit of \(limit) bytes; raise DecodingLimits.maxMessageBytes if the peer is trusted"
        case let .truncated(field):
            return "message is truncated in field '\(field)': the input ends before the declared length; the sender or the transport cut it short"
        case let .trailingBytes(count):
            return "\(count) bytes follow the message map; exactly one map per message is allowed"
        case let .malformed(offset, reason):
            return "not valid msgpack at byte \(offset): \(reason)"
        case let .notAMap(found):
            return "message is a msgpack \(found), expected a map with keys 'v' and 't'"
        case let .nestingTooDeep(field, limit):
            return "field '\(field)' nests containers deeper than \(limit) levels"
        case let .unsupportedVersion(found, supported):
            return "protocol version \(found) is not supported (this build speaks version \(supported)); run the same ThinkLens version on coordinator and workers"
        case let .unknownType(type):
            return "unknown message type '\(type)'; known types: \(MessageType.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .missingField(field):
            return "required field '\(field)' is missing"
        case let .unknownField(field):
            return "unknown field '\(field)'; peers of one protocol version send exactly the documented keys"
        case let .duplicateField(field):
            return "field '\(field)' appears twice"
        case let .mistypedField(field, expected, found):
            return "field '\(field)' is a msgpack \(found), expected \(expected)"
        case let .invalidValue(field, reason):
            return "field '\(field)' is invalid: \(reason)"
        case let .invalidUTF8(field):
            return "field '\(field)' is not valid UTF-8"
        case let .blobLengthMismatch(field, bytes, expectedBytes):
            return "blob '\(field)' has \(bytes) bytes but its shape needs \(expectedBytes)"
        case let .overBound(field, count, bound):
            return "field '\(field)' has \(count) elements, more than the bound of \(bound) (DecodingLimits)"
        }
    }
}

/// Upper bounds a decoder enforces before it allocates anything, so a hostile or broken
/// peer cannot make it reserve memory the input does not justify.
public struct DecodingLimits: Equatable, Sendable {
    /// Whole message, in bytes.
    public var maxMessageBytes: Int
    /// Token ids in `promptIDs`, `generatedIDs` and `LatentChunk.tokens`.
    public var maxTokens: Int
    /// `LatentChunk.k`.
    public var maxLatentsPerToken: Int
    /// Elements of any msgpack array or map (hookpoints, timings, fingerprints, the message map).
    public var maxCollectionCount: Int
    /// Array elements plus map keys and values in the whole message (a chunk has about 20).
    public var maxTotalElements: Int
    /// Bytes of any string.
    public var maxStringBytes: Int

    public init(
        maxMessageBytes: Int = 256 << 20, maxTokens: Int = 1 << 20, maxLatentsPerToken: Int = 4096,
        maxCollectionCount: Int = 1024, maxTotalElements: Int = 8192, maxStringBytes: Int = 64 << 10
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxTokens = maxTokens
        self.maxLatentsPerToken = maxLatentsPerToken
        self.maxCollectionCount = maxCollectionCount
        self.maxTotalElements = maxTotalElements
        self.maxStringBytes = maxStringBytes
    }

    /// Generous for real runs: 1 Mi tokens per array, k ≤ 4096, 256 MiB per message.
    public static let `default` = DecodingLimits()
}
