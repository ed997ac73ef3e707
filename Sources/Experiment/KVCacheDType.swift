/// The number format the KV cache keeps keys and values in (`--kv-cache f32|bf16`).
///
/// float32 is exact: the cache holds what the projections computed, and the engine matches the
/// torch reference as closely as without a cache. bfloat16 halves the cache's bytes (and the
/// bytes attention reads per step) at the cost of rounding every key and value to 8 significant
/// bits when it is stored; docs/long-context.md ("bfloat16 KV cache") gives its measured effect.
/// A run uses one format throughout: workers report theirs and the coordinator refuses a
/// worker whose format differs from the run's.
public enum KVCacheDType: String, CaseIterable, Equatable, Sendable {
    case f32
    case bf16

    /// The default: exact.
    public static let standard = KVCacheDType.f32

    /// Parses the option's value, exactly as spelled on the command line.
    public init(parsing text: String, option: String = "--kv-cache") throws(KVCacheDTypeError) {
        guard let dtype = KVCacheDType(rawValue: text) else {
            throw KVCacheDTypeError(option: option, value: text)
        }
        self = dtype
    }

    /// Bytes one stored key or value element takes.
    public var bytesPerElement: Int {
        switch self {
        case .f32: return 4
        case .bf16: return 2
        }
    }

    /// The format's full name, as log lines and refusals print it.
    public var longName: String {
        switch self {
        case .f32: return "float32"
        case .bf16: return "bfloat16"
        }
    }
}

/// A `--kv-cache` value that is not one of the formats.
public struct KVCacheDTypeError: Error, Equatable, CustomStringConvertible {
    public let option: String
    public let value: String

    public init(option: String, value: String) {
        self.option = option
        self.value = value
    }

    public var description: String {
        "\(option): '\(value)' is not a KV cache format; use one of \(KVCacheDType.allCases.map(\.rawValue).joined(separator: ", ")) (f32 is exact and the default, bf16 halves the cache's memory)"
    }
}
