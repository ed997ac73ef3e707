import Foundation

/// Writes a safetensors file. Header keys are sorted and the data section is laid out in
/// insertion order, so the same tensors always give the same bytes.
public struct SafeTensorsWriter {
    private struct Entry {
        let name: String
        let dtype: TensorDType
        let shape: [Int]
        let data: Data
    }

    private var entries: [Entry] = []
    private var names: Set<String> = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, dtype: TensorDType, shape: [Int], data: Data) {
        precondition(!names.contains(name), "tensor '\(name)' added twice")
        precondition(shape.reduce(1, *) * dtype.byteSize == data.count, "tensor '\(name)': \(data.count) bytes for dtype \(dtype.rawValue) × shape \(shape)")
        names.insert(name)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, data: data))
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        add(name, dtype: .f32, shape: shape, data: floats.withUnsafeBytes { Data($0) })
    }

    public mutating func add(_ name: String, shape: [Int], int32s: [Int32]) {
        add(name, dtype: .i32, shape: shape, data: int32s.withUnsafeBytes { Data($0) })
    }

    public mutating func add(_ name: String, shape: [Int], uint8s: [UInt8]) {
        add(name, dtype: .u8, shape: shape, data: Data(uint8s))
    }

    private var header: SafeTensorsHeader {
        SafeTensorsHeader(entries.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, metadata: metadata)
    }

    /// The complete file contents.
    public func serialized() -> Data {
        let header = self.header
        var out = Data()
        out.reserveCapacity(header.dataStart + header.dataByteCount)
        out.append(contentsOf: header.bytes)
        for e in entries { out.append(e.data) }
        return out
    }

    /// Writes atomically (see `TemporaryFile`): a full disk or a crash never leaves a
    /// half-written file under the final name.
    public func write(to path: String) throws {
        let file = try TemporaryFile(finalPath: path)
        try header.bytes.withUnsafeBytes { try file.write($0) }
        for e in entries { try e.data.withUnsafeBytes { try file.write($0) } }
        try file.commit()
    }
}
