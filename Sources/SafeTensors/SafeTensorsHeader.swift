/// The header of a safetensors file, built the one way both writers share: keys sorted
/// (`__metadata__` among them), data offsets in declaration order, padded with spaces so the
/// data section starts 8-byte aligned as the reference writer does. The same tensors always
/// give the same bytes, whether the file is written whole or streamed.
public struct SafeTensorsHeader {
    public struct Entry {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        public init(name: String, dtype: TensorDType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
        public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    /// The JSON text, padded.
    public let text: String
    /// Where each entry's data starts, relative to the start of the data section.
    public let dataOffsets: [Int]
    /// Bytes of the data section.
    public let dataByteCount: Int

    public init(_ entries: [Entry], metadata: [String: String] = [:]) {
        var offset = 0
        var offsets: [Int] = []
        var fields: [(String, String)] = []
        for e in entries {
            offsets.append(offset)
            let shape = e.shape.map(String.init).joined(separator: ",")
            fields.append((e.name, "{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + e.byteCount)]}"))
            offset += e.byteCount
        }
        if !metadata.isEmpty {
            let body = metadata.keys.sorted().map { "\(JSONString.quoted($0)):\(JSONString.quoted(metadata[$0]!))" }.joined(separator: ",")
            fields.append(("__metadata__", "{\(body)}"))
        }
        fields.sort { $0.0 < $1.0 }
        var text = "{" + fields.map { "\(JSONString.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        while (8 + text.utf8.count) % 8 != 0 { text += " " }
        self.text = text
        dataOffsets = offsets
        dataByteCount = offset
    }

    /// The 8-byte little-endian length followed by the header text.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + text.utf8.count)
        withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: text.utf8)
        return out
    }

    /// Where the data section starts in the file.
    public var dataStart: Int { 8 + text.utf8.count }
}
