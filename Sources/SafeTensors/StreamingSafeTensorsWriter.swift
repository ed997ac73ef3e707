/// Writes a safetensors file whose tensor sizes are known up front but whose contents
/// arrive in pieces: the header goes first, then each tensor's region fills through its
/// own buffer. The bytes equal `SafeTensorsWriter`'s for the same tensors (both build their
/// header with `SafeTensorsHeader`), but memory stays at a few buffers however large the file.
public final class StreamingSafeTensorsWriter {
    public typealias Tensor = SafeTensorsHeader.Entry

    public var path: String { file.path }
    public let tensors: [Tensor]
    private let file: TemporaryFile
    private let regionStart: [Int]
    private var written: [Int]
    private var buffers: [[UInt8]]
    private static let bufferLimit = 1 << 20

    public init(path: String, tensors: [Tensor], metadata: [String: String] = [:]) throws {
        self.tensors = tensors
        written = [Int](repeating: 0, count: tensors.count)
        buffers = [[UInt8]](repeating: [], count: tensors.count)
        let header = SafeTensorsHeader(tensors, metadata: metadata)
        regionStart = header.dataOffsets.map { $0 + header.dataStart }
        file = try TemporaryFile(finalPath: path)
        try header.bytes.withUnsafeBytes { try file.write($0, at: 0) }
    }

    /// Appends bytes to tensor `i`'s region.
    public func append(_ i: Int, _ bytes: UnsafeRawBufferPointer) throws {
        guard written[i] + bytes.count <= tensors[i].byteCount else {
            throw FileWriteError(path: path, reason: "tensor '\(tensors[i].name)' got more than its \(tensors[i].byteCount) bytes; the journal index and its records disagree")
        }
        if buffers[i].count + bytes.count > Self.bufferLimit { try flush(i) }
        buffers[i].append(contentsOf: bytes)
        written[i] += bytes.count
    }

    public func append<T>(_ i: Int, _ values: [T]) throws {
        try values.withUnsafeBytes { try append(i, $0) }
    }

    private func flush(_ i: Int) throws {
        let start = regionStart[i] + written[i] - buffers[i].count
        try buffers[i].withUnsafeBytes { try file.write($0, at: start) }
        buffers[i].removeAll(keepingCapacity: true)
    }

    public func finish() throws {
        for i in tensors.indices {
            try flush(i)
            guard written[i] == tensors[i].byteCount else {
                throw FileWriteError(path: path, reason: "tensor '\(tensors[i].name)' got \(written[i]) of its \(tensors[i].byteCount) bytes; the journal index and its records disagree")
            }
        }
        try file.commit()
    }
}
