import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types of the safetensors format that ThinkLens reads or writes.
public enum TensorDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

/// Something wrong with a safetensors file; always names the file and, where known, the tensor.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let tensor: String?
    public let reason: String

    public init(file: String, tensor: String? = nil, reason: String) {
        self.file = file
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(reason)" }
        return "\(file): \(reason)"
    }
}

/// Where one tensor lives inside a file's data section.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: TensorDType
    public let shape: [Int]
    /// Byte offsets relative to the start of the data section, as in the header.
    public let dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A view of one tensor's bytes inside a mapped file. It keeps the file (and so the mapping)
/// alive, so `try SafeTensorsFile(path: p).tensor("x").floats()` is safe.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public let bytes: UnsafeRawBufferPointer
    /// The mapped file the bytes belong to.
    let owner: AnyObject?

    init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject? = nil) {
        self.info = info
        self.bytes = bytes
        self.owner = owner
    }

    public var name: String { info.name }
    public var dtype: TensorDType { info.dtype }
    public var shape: [Int] { info.shape }
    public var elementCount: Int { info.elementCount }

    /// Widens any float dtype to Float32 into `destination` (which must hold `elementCount` floats).
    public func widen(into destination: UnsafeMutablePointer<Float>) {
        let n = elementCount
        switch dtype {
        case .f32:
            // The data section is not guaranteed 4-byte aligned in memory: copy bytes.
            memcpy(destination, bytes.baseAddress!, n * 4)
        case .bf16:
            let src = bytes.baseAddress!
            for i in 0..<n {
                let bits = UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(bitPattern: bits << 16)
            }
        case .f16:
            let src = bytes.baseAddress!
            for i in 0..<n {
                destination[i] = Float(halfBits: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .f64:
            let src = bytes.baseAddress!
            for i in 0..<n {
                destination[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
            }
        default:
            preconditionFailure("widen(into:) called on non-float tensor \(name) of dtype \(dtype.rawValue)")
        }
    }

    /// The tensor as a new Float32 array (any float dtype).
    public func floats() -> [Float] {
        precondition(dtype.isFloatingPoint, "tensor \(name) has dtype \(dtype.rawValue), not a float type")
        return [Float](unsafeUninitializedCapacity: elementCount) { buffer, count in
            if elementCount > 0 { widen(into: buffer.baseAddress!) }
            count = elementCount
        }
    }

    /// Integer tensors of any width as Int32 (I32, I64, U64, I16, I8, U8, U16, U32, BOOL); wider
    /// values are truncated.
    public func int32s() -> [Int32] {
        let n = elementCount
        let src = bytes.baseAddress
        return (0..<n).map { i -> Int32 in
            switch dtype {
            case .i32: return src!.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)
            case .i64: return Int32(truncatingIfNeeded: src!.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
            case .u64: return Int32(truncatingIfNeeded: src!.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            case .u32: return Int32(bitPattern: src!.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            case .i16: return Int32(src!.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
            case .u16: return Int32(src!.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            case .i8: return Int32(src!.load(fromByteOffset: i, as: Int8.self))
            case .u8, .bool: return Int32(src!.load(fromByteOffset: i, as: UInt8.self))
            default: preconditionFailure("int32s() called on float tensor \(name)")
            }
        }
    }
}

extension Float {
    /// IEEE half → single, exact for every input including subnormals, infinities and NaN.
    @inlinable
    public init(halfBits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: value = mantissa · 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            self = sign == 0 ? magnitude : -magnitude
        } else if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else {
            self = Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }
}

/// A safetensors file mapped read-only. Several processes mapping the same file share one
/// copy of its pages in the page cache, which is how workers on one box share weights.
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    /// Tensor names in file order (by data offset).
    public let tensorNames: [String]

    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let dataStart: Int

    /// Headers larger than this are refused rather than parsed (the format's own limit is 100 MB).
    public static let maximumHeaderBytes = 100_000_000

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeTensorsError(file: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeTensorsError(file: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        let fileSize = Int(st.st_size)
        guard fileSize >= 8 else {
            throw SafeTensorsError(file: path, reason: "file is \(fileSize) bytes, too short for the 8-byte header length")
        }
        guard let base = mmap(nil, fileSize, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw SafeTensorsError(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        var mapped = false
        defer { if !mapped { munmap(base, fileSize) } }

        // Compared as read: a length of 2^63 or more does not fit an Int.
        let declaredLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declaredLength >= 2, declaredLength <= UInt64(Self.maximumHeaderBytes) else {
            throw SafeTensorsError(file: path, reason: "header length \(declaredLength) is not in 2...\(Self.maximumHeaderBytes) (not a safetensors file?)")
        }
        let headerLength = Int(declaredLength)
        guard 8 + headerLength <= fileSize else {
            throw SafeTensorsError(file: path, reason: "header length \(headerLength) runs past the end of the \(fileSize)-byte file (truncated?)")
        }
        let headerBytes = Data(bytes: base + 8, count: headerLength)
        let parsed = try Self.parseHeader(headerBytes, file: path, dataLength: fileSize - 8 - headerLength)
        self.tensors = parsed.tensors
        self.metadata = parsed.metadata
        self.tensorNames = parsed.tensors.values.sorted { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound || ($0.dataOffsets.lowerBound == $1.dataOffsets.lowerBound && $0.name < $1.name) }.map(\.name)
        self.mapping = base
        self.mappingLength = fileSize
        self.dataStart = 8 + headerLength
        mapped = true
    }

    deinit {
        munmap(mapping, mappingLength)
    }

    /// Parses and validates a header against the length of the data section that follows it.
    static func parseHeader(_ header: Data, file: String, dataLength: Int) throws -> (tensors: [String: TensorInfo], metadata: [String: String]) {
        guard header.first == UInt8(ascii: "{") else {
            throw SafeTensorsError(file: file, reason: "header does not start with '{' (not a safetensors file?)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header, options: [])
        } catch {
            throw SafeTensorsError(file: file, reason: "header is not valid JSON: \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else {
            throw SafeTensorsError(file: file, reason: "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw SafeTensorsError(file: file, reason: "__metadata__ is not an object")
                }
                for (k, v) in map {
                    guard let s = v as? String else {
                        throw SafeTensorsError(file: file, reason: "__metadata__ value for '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else {
                throw SafeTensorsError(file: file, tensor: name, reason: "header entry is not an object")
            }
            guard let dtypeName = entry["dtype"] as? String else {
                throw SafeTensorsError(file: file, tensor: name, reason: "missing or non-string 'dtype'")
            }
            guard let dtype = TensorDType(rawValue: dtypeName) else {
                throw SafeTensorsError(file: file, tensor: name, reason: "unsupported dtype '\(dtypeName)'")
            }
            guard let shapeValues = entry["shape"] as? [Any] else {
                throw SafeTensorsError(file: file, tensor: name, reason: "missing or non-array 'shape'")
            }
            var shape: [Int] = []
            for s in shapeValues {
                guard let n = Self.exactInt(s), n >= 0 else {
                    throw SafeTensorsError(file: file, tensor: name, reason: "shape \(shapeValues) has an entry that is not a non-negative integer")
                }
                shape.append(n)
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = Self.exactInt(offsets[0]), let end = Self.exactInt(offsets[1]) else {
                throw SafeTensorsError(file: file, tensor: name, reason: "missing or malformed 'data_offsets' (want [begin, end])")
            }
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw SafeTensorsError(file: file, tensor: name, reason: "data_offsets [\(begin), \(end)] lie outside the \(dataLength)-byte data section (truncated file?)")
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw SafeTensorsError(file: file, tensor: name, reason: "shape \(shape) overflows")
                }
                elements = product
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, expected == end - begin else {
                throw SafeTensorsError(file: file, tensor: name, reason: "byte size \(end - begin) does not match dtype \(dtype.rawValue) × shape \(shape) = \(overflow ? -1 : expected) bytes")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
        }
        // The format requires the data section to be covered exactly, without overlaps or holes.
        let ordered = tensors.values.sorted { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var cursor = 0
        for t in ordered {
            if t.dataOffsets.lowerBound < cursor {
                throw SafeTensorsError(file: file, tensor: t.name, reason: "data_offsets [\(t.dataOffsets.lowerBound), \(t.dataOffsets.upperBound)] overlap the previous tensor")
            }
            if t.dataOffsets.lowerBound > cursor {
                throw SafeTensorsError(file: file, tensor: t.name, reason: "a hole of \(t.dataOffsets.lowerBound - cursor) bytes precedes this tensor's data")
            }
            cursor = t.dataOffsets.upperBound
        }
        if cursor != dataLength {
            throw SafeTensorsError(file: file, reason: "data section is \(dataLength) bytes but tensors cover \(cursor) (trailing bytes or truncated file)")
        }
        return (tensors, metadata)
    }

    private static func exactInt(_ value: Any) -> Int? {
        if let n = value as? NSNumber {
            // JSONSerialization gives NSNumber; refuse fractions and booleans.
            if n.objCType.pointee == CChar(UInt8(ascii: "c")) { return nil }
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
            return n.intValue
        }
        return nil
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    /// A view of the named tensor, or an error naming the file and the tensor.
    public func tensor(_ name: String) throws -> TensorView {
        guard let info = tensors[name] else {
            throw SafeTensorsError(file: path, tensor: name, reason: "not present (the file has \(tensors.count) tensors)")
        }
        let start = UnsafeRawPointer(mapping) + dataStart + info.dataOffsets.lowerBound
        return TensorView(info: info, bytes: UnsafeRawBufferPointer(start: start, count: info.dataOffsets.count), owner: self)
    }

    /// A view that must have the given shape and one of the given dtypes.
    public func tensor(_ name: String, shape: [Int], dtypes: Set<TensorDType>) throws -> TensorView {
        let view = try tensor(name)
        guard view.shape == shape else {
            throw SafeTensorsError(file: path, tensor: name, reason: "shape \(view.shape), expected \(shape)")
        }
        guard dtypes.contains(view.dtype) else {
            throw SafeTensorsError(file: path, tensor: name, reason: "dtype \(view.dtype.rawValue), expected one of \(dtypes.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        return view
    }

    /// Hints the kernel to read the whole file ahead (weights are touched on every token).
    public func adviseWillNeed() {
        _ = madvise(mapping, mappingLength, MADV_WILLNEED)
    }

    /// Drops the file's pages from this process's resident set (they stay in the page cache
    /// and fault back in when read again): for one-pass readers of files larger than memory.
    public func adviseDontNeed() {
        _ = madvise(mapping, mappingLength, MADV_DONTNEED)
    }
}
