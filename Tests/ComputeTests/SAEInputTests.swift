import Checkpoints
import SafeTensors
import Compute
import Foundation
import Testing
import TestSupport

@Suite("SAE input files")
struct SAEInputTests {
    static let values: [Float] = [0.5, -1.25, 2, 0, 3.5, -0.75]  // exact in F16 and BF16

    func write(_ name: String, dtype: TensorDType, shape: [Int], values: [Float] = SAEInputTests.values,
               in directory: TemporaryDirectory) throws -> String {
        var writer = SafeTensorsWriter()
        switch dtype {
        case .bf16:
            let bits = values.map { UInt16($0.bitPattern >> 16) }
            writer.add(name, dtype: .bf16, shape: shape, data: bits.withUnsafeBytes { Data($0) })
        case .f16:
            let bits = values.map { Float16($0).bitPattern }
            writer.add(name, dtype: .f16, shape: shape, data: bits.withUnsafeBytes { Data($0) })
        default:
            writer.add(name, shape: shape, floats: values)
        }
        let path = directory.file("x-\(dtype.rawValue).safetensors")
        try writer.write(to: path)
        return path
    }

    @Test("x is read as float32 from F32, F16 and BF16", arguments: [TensorDType.f32, .f16, .bf16])
    func readsFloatTypes(dtype: TensorDType) throws {
        let scratch = TemporaryDirectory("sae")
        let input = try SAEInput.load(path: try write("x", dtype: dtype, shape: [2, 3], in: scratch))
        #expect(input.rows == 2 && input.columns == 3)
        #expect(input.x == Self.values)
    }

    @Test("a file without x is refused, listing what it has")
    func refusesMissingTensor() throws {
        let scratch = TemporaryDirectory("sae")
        let path = try write("activations", dtype: .f32, shape: [2, 3], in: scratch)
        #expect { try SAEInput.load(path: path) } throws: { error in
            (error as? SAEError)?.reason.contains("no tensor 'x' (the file has: activations)") == true
        }
    }

    @Test("x that is not two-dimensional is refused")
    func refusesWrongRank() throws {
        let scratch = TemporaryDirectory("sae")
        let path = try write("x", dtype: .f32, shape: [1, 2, 3], in: scratch)
        #expect { try SAEInput.load(path: path) } throws: { error in
            (error as? SAEError)?.reason.contains("expected [T, d_in]") == true
        }
    }

    @Test("a non-finite activation is refused with its row and column")
    func refusesNaN() throws {
        let scratch = TemporaryDirectory("sae")
        var values = Self.values
        values[4] = .nan
        let path = try write("x", dtype: .f32, shape: [2, 3], values: values, in: scratch)
        #expect { try SAEInput.load(path: path) } throws: { error in
            (error as? SAEError)?.reason.contains("row 1, column 1") == true
        }
    }
}
