import FuzzSupport
import SafeTensors

/// `SafeTensorsFile(path:)` on arbitrary bytes written to a file, then every tensor read.
/// Invariants: no crash or over-read (ASan); every tensor's view lies inside the file and holds
/// exactly its dtype × shape bytes; tensorNames lists each tensor once.
@main struct FuzzSafeTensors {
    static func main() { runFuzzer(fuzzSafeTensors, seeds: seeds) }
}

func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let path = ScratchFile.write(bytes, name: "fuzz.safetensors")
    guard let file = try? SafeTensorsFile(path: path) else { return 0 }
    check(file.tensorNames.count == file.tensors.count && Set(file.tensorNames) == Set(file.tensors.keys),
          "tensorNames \(file.tensorNames) do not list the \(file.tensors.count) tensors once each")
    var covered = 0
    for name in file.tensorNames {
        let view: TensorView
        do { view = try file.tensor(name) } catch { fail("listed tensor '\(name)' cannot be viewed: \(error)") }
        check(view.bytes.count == view.elementCount * view.dtype.byteSize,
              "tensor '\(name)': \(view.bytes.count) bytes for \(view.elementCount) × \(view.dtype.byteSize)")
        covered += view.bytes.count
        if view.dtype.isFloatingPoint {
            check(view.floats().count == view.elementCount, "tensor '\(name)': floats() count")
        } else {
            check(view.int32s().count == view.elementCount, "tensor '\(name)': int32s() count")
        }
    }
    check(covered <= size, "tensors cover \(covered) bytes of a \(size)-byte file")
    return 0
}

/// Small files as the writers make them: each dtype, scalars, empty tensors, metadata.
private func seeds() -> [String: [UInt8]] {
    typealias Entry = SafeTensorsHeader.Entry
    func file(_ entries: [Entry], metadata: [String: String] = [:]) -> [UInt8] {
        let header = SafeTensorsHeader(entries, metadata: metadata)
        return header.bytes + (0..<header.dataByteCount).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    }
    return [
        "f32-matrix": file([Entry(name: "W_dec", dtype: .f32, shape: [2, 3])], metadata: ["format": "pt"]),
        "bf16-f16-pair": file([Entry(name: "encoder.weight", dtype: .bf16, shape: [4, 2]), Entry(name: "encoder.bias", dtype: .f16, shape: [4])]),
        "integers": file([Entry(name: "indices", dtype: .i32, shape: [3, 2]), Entry(name: "positions", dtype: .i64, shape: [3]),
                          Entry(name: "segments", dtype: .u8, shape: [3]), Entry(name: "mask", dtype: .bool, shape: [2])]),
        "scalar-and-empty": file([Entry(name: "b_dec", dtype: .f64, shape: []), Entry(name: "empty", dtype: .f32, shape: [0, 5])]),
        "all-dtypes": file(TensorDType.allCases.map { Entry(name: "t.\($0.rawValue)", dtype: $0, shape: [2]) }),
        "metadata-only": file([], metadata: ["note": "no tensors"]),
    ]
}
