import Checkpoints
import SafeTensors
import Foundation

/// Activations to encode, read from a safetensors file holding `x` [T, d_in] (F32, F16 or BF16),
/// as `thinklens encode --input` takes them.
public struct SAEInput {
    /// [rows, columns] as float32.
    public let x: [Float]
    public let rows: Int
    public let columns: Int

    public init(x: [Float], rows: Int, columns: Int) {
        precondition(x.count == rows * columns)
        self.x = x
        self.rows = rows
        self.columns = columns
    }

    public static func load(path: String, tensor name: String = "x") throws -> SAEInput {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch let error as SafeTensorsError {
            throw SAEError(path: path, reason: error.reason)
        }
        guard let info = file.tensors[name] else {
            throw SAEError(path: path, reason: "no tensor '\(name)' (the file has: \(file.tensorNames.joined(separator: ", "))); write the activations as '\(name)' [T, d_in]")
        }
        guard info.shape.count == 2 else {
            throw SAEError(path: path, reason: "tensor '\(name)' has shape \(info.shape); expected [T, d_in]")
        }
        guard [.f32, .f16, .bf16].contains(info.dtype) else {
            throw SAEError(path: path, reason: "tensor '\(name)' has dtype \(info.dtype.rawValue); expected F32, F16 or BF16")
        }
        // The view borrows the mapping: keep the file alive until the floats are copied out.
        let x = try withExtendedLifetime(file) { try file.tensor(name).floats() }
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw SAEError(path: path, reason: "tensor '\(name)' has a non-finite value (\(x[bad])) at row \(bad / info.shape[1]), column \(bad % info.shape[1])")
        }
        return SAEInput(x: x, rows: info.shape[0], columns: info.shape[1])
    }
}
