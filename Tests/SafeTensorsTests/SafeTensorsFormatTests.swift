import Foundation
import Testing
@testable import SafeTensors
import TestSupport

/// The safetensors rules we rely on: the header layout, validation errors that name
/// file and tensor, and writer output that our reader and the reference format agree on.
@Suite struct SafeTensorsFormatTests {
    /// Each test's files, removed after it.
    let directory = TemporaryDirectory("safetensors")
    func temporaryPath(_ name: String) -> String { directory.file(name) }

    /// Builds a file from a raw header string and data bytes, bypassing the writer's checks.
    func rawFile(_ name: String, header: String, data: [UInt8]) -> String {
        var bytes: [UInt8] = []
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: data)
        let path = temporaryPath(name)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func writtenTensorsReadBackWithNamesShapesAndValues() throws {
        var writer = SafeTensorsWriter()
        writer.add("b.weight", shape: [2, 3], floats: [1, -2, 3.5, 0, 1e-8, -7])
        writer.add("a.ids", shape: [4], int32s: [5, -1, 151_935, 0])
        writer.add("mask", shape: [3], uint8s: [0, 1, 1])
        writer.metadata = ["format": "pt"]
        let path = temporaryPath("roundtrip.safetensors")
        try writer.write(to: path)

        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensorNames == ["b.weight", "a.ids", "mask"])
        let weight = try file.tensor("b.weight", shape: [2, 3], dtypes: [.f32])
        #expect(weight.floats() == [1, -2, 3.5, 0, 1e-8, -7])
        #expect(try file.tensor("a.ids").int32s() == [5, -1, 151_935, 0])
        #expect(try file.tensor("mask").int32s() == [0, 1, 1])
    }

    @Test func dataSectionStartsEightByteAligned() throws {
        var writer = SafeTensorsWriter()
        writer.add("x", shape: [1], floats: [1])
        let bytes = writer.serialized()
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect((8 + Int(headerLength)) % 8 == 0)
    }

    @Test func writerIsDeterministic() {
        func make() -> Data {
            var w = SafeTensorsWriter()
            w.add("z", shape: [2], floats: [1, 2])
            w.add("a", shape: [1], int32s: [3])
            w.metadata = ["k": "v", "a": "b"]
            return w.serialized()
        }
        #expect(make() == make())
    }

    @Test func bfloat16AndFloat16AreWidenedExactly() throws {
        // bf16 0x3FC0 = 1.5, 0xC000 = -2; f16 0x3C00 = 1, 0x0001 = 2^-24 (subnormal), 0xFC00 = -inf.
        let bf16: [UInt16] = [0x3FC0, 0xC000]
        let f16: [UInt16] = [0x3C00, 0x0001, 0xFC00]
        var writer = SafeTensorsWriter()
        writer.add("bf", dtype: .bf16, shape: [2], data: bf16.withUnsafeBytes { Data($0) })
        writer.add("h", dtype: .f16, shape: [3], data: f16.withUnsafeBytes { Data($0) })
        let path = temporaryPath("widen.safetensors")
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor("bf").floats() == [1.5, -2])
        #expect(try file.tensor("h").floats() == [1, 0x1p-24, -.infinity])
    }

    @Test func offsetsPastTheEndNameTheTensor() {
        let path = rawFile("past-end.safetensors",
            header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(path: path) }
        do { _ = try SafeTensorsFile(path: path) } catch let error as SafeTensorsError {
            #expect(error.tensor == "w")
            #expect(error.reason.contains("outside"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func byteSizeMismatchIsRefused() {
        let path = rawFile("size.safetensors",
            header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
        do { _ = try SafeTensorsFile(path: path); Issue.record("accepted a 3-float tensor stored in 8 bytes") } catch let error as SafeTensorsError {
            #expect(error.tensor == "w")
            #expect(error.reason.contains("does not match"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func overlappingTensorsAreRefused() {
        let path = rawFile("overlap.safetensors",
            header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            data: Array(repeating: 0, count: 8))
        do { _ = try SafeTensorsFile(path: path); Issue.record("accepted overlapping tensors") } catch let error as SafeTensorsError {
            #expect(error.reason.contains("overlap"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func truncatedHeaderIsRefused() {
        let path = rawFile("trunc.safetensors", header: #"{"a":{"dtype":"F32""#, data: [])
        // Claim a longer header than the file holds.
        var bytes = try! Data(contentsOf: URL(fileURLWithPath: path))
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(4096).littleEndian) { Data($0) })
        FileManager.default.createFile(atPath: path, contents: bytes)
        do { _ = try SafeTensorsFile(path: path); Issue.record("accepted a truncated header") } catch let error as SafeTensorsError {
            #expect(error.reason.contains("past the end"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    /// Found by `scripts/fuzz safetensors`: a length of 2^63 or more trapped converting it to Int.
    @Test func aHeaderLengthBeyondIntIsRefused() {
        let path = temporaryPath("huge-length.safetensors")
        FileManager.default.createFile(atPath: path, contents: Data([0, 0, 0, 0, 0, 0, 0, 0xf2]))
        do { _ = try SafeTensorsFile(path: path); Issue.record("accepted a header length of 0xf2 << 56") } catch let error as SafeTensorsError {
            #expect(error.reason.contains("header length 17437937757178560512 is not in 2...100000000"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func unknownDtypeIsRefused() {
        let path = rawFile("dtype.safetensors",
            header: #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        do { _ = try SafeTensorsFile(path: path); Issue.record("accepted an unknown dtype") } catch let error as SafeTensorsError {
            #expect(error.tensor == "a")
            #expect(error.reason.contains("F8_E4M3"))
        } catch { Issue.record("unexpected error \(error)") }
    }

    @Test func wrongShapeRequestNamesExpectedAndActual() throws {
        var writer = SafeTensorsWriter()
        writer.add("w", shape: [2, 2], floats: [1, 2, 3, 4])
        let path = temporaryPath("shape.safetensors")
        try writer.write(to: path)
        let file = try SafeTensorsFile(path: path)
        do { _ = try file.tensor("w", shape: [4], dtypes: [.f32]); Issue.record("shape check passed") } catch let error as SafeTensorsError {
            #expect(error.description.contains("[2, 2]"))
            #expect(error.description.contains("[4]"))
        }
    }

    @Test func shardedCheckpointResolvesTensorsThroughTheIndex() throws {
        let dir = temporaryPath("sharded")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var first = SafeTensorsWriter()
        first.add("a", shape: [1], floats: [1])
        try first.write(to: dir + "/model-00001-of-00002.safetensors")
        var second = SafeTensorsWriter()
        second.add("b", shape: [1], floats: [2])
        try second.write(to: dir + "/model-00002-of-00002.safetensors")
        let index = #"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#
        try index.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        let checkpoint = try SafeTensorsCheckpoint(directory: dir)
        #expect(checkpoint.tensorNames == ["a", "b"])
        #expect(try checkpoint.tensor("b").floats() == [2])
    }

    @Test func shardTensorMissingFromIndexIsRefused() throws {
        let dir = temporaryPath("sharded-extra")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var shard = SafeTensorsWriter()
        shard.add("a", shape: [1], floats: [1])
        shard.add("stray", shape: [1], floats: [9])
        try shard.write(to: dir + "/model-00001-of-00001.safetensors")
        try #"{"weight_map":{"a":"model-00001-of-00001.safetensors"}}"#.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        do { _ = try SafeTensorsCheckpoint(directory: dir); Issue.record("accepted an unlisted tensor") } catch let error as SafeTensorsError {
            #expect(error.tensor == "stray")
        }
    }
}

extension SafeTensorsFormatTests {
    @Test func aTensorViewKeepsItsFileMapped() throws {
        var writer = SafeTensorsWriter()
        writer.add("x", shape: [3], floats: [1, 2, 3])
        let path = temporaryPath("lifetime.safetensors")
        try writer.write(to: path)
        // The file object is a temporary: only the view holds it.
        let view = try SafeTensorsFile(path: path).tensor("x")
        #expect(view.floats() == [1, 2, 3])
    }

    /// Found by `scripts/fuzz safetensors` (its all-dtypes seed): int32s() trapped on U64, calling it a float tensor.
    @Test func everyIntegerDtypeReadsAsInt32() throws {
        let path = rawFile("u64.safetensors", header: #"{"u":{"dtype":"U64","shape":[2],"data_offsets":[0,16]}}"#,
                                data: [7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        #expect(try SafeTensorsFile(path: path).tensor("u").int32s() == [7, -1])
        for dtype in TensorDType.allCases where !dtype.isFloatingPoint {
            let bytes = 2 * dtype.byteSize
            let file = rawFile("\(dtype.rawValue).safetensors",
                                    header: #"{"t":{"dtype":"\#(dtype.rawValue)","shape":[2],"data_offsets":[0,\#(bytes)]}}"#,
                                    data: [UInt8](repeating: 1, count: bytes))
            #expect(try SafeTensorsFile(path: file).tensor("t").int32s().count == 2)
        }
    }
}
