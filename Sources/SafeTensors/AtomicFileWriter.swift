/// A file written through a buffer under a temporary name, then synced and renamed into
/// place (see `TemporaryFile`).
public final class AtomicFileWriter {
    public var path: String { file.path }
    private let file: TemporaryFile
    private var buffer: [UInt8] = []
    private static let bufferLimit = 1 << 20

    public init(path: String) throws {
        file = try TemporaryFile(finalPath: path)
        buffer.reserveCapacity(Self.bufferLimit)
    }

    public func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count >= Self.bufferLimit {
            try file.write(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try file.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws {
        try flush()
        try file.commit()
    }
}
