import SafeTensors
import Foundation
import TestSupport
@testable import Compute

/// Where the committed Qwen2 fixtures live (written by scripts/make-qwen2-fixtures.py).
enum Qwen2Fixtures {
    static let directory = TestEnvironment.fixtures("qwen2")

    static let names = ["gqa2-untied-f32", "gqa4-tied-bf16-sharded", "gqa3-untied-f16-odd"]

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func model(_ name: String) throws -> Qwen2Model { try Qwen2Model(directory: path(name)) }

    static func reference(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: directory.appendingPathComponent(name).appendingPathComponent("reference.safetensors").path)
    }

    /// Copies a fixture into `scratch`, where a test may modify it, and returns the copy's path.
    static func copy(_ name: String, into scratch: TemporaryDirectory) throws -> String {
        let target = scratch.file(name)
        try FileManager.default.copyItem(atPath: path(name), toPath: target)
        return target
    }
}

/// Collects every delivered activation row: [sequence id][hookpoint] → rows by position.
final class RecordingSink: ActivationSink {
    var rows: [Int: [Hookpoint: [Int: [Float]]]] = [:]
    var info: [Int: [Int: ActivationRow]] = [:]

    func receive(hookpoint: Hookpoint, rows batch: UnsafeBufferPointer<ActivationRow>, values: UnsafeBufferPointer<Float>, width: Int) {
        for (r, row) in batch.enumerated() {
            let slice = Array(values[(r * width)..<((r + 1) * width)])
            precondition(rows[row.sequenceID]?[hookpoint]?[row.position] == nil, "position delivered twice")
            rows[row.sequenceID, default: [:]][hookpoint, default: [:]][row.position] = slice
            info[row.sequenceID, default: [:]][row.position] = row
        }
    }

    /// The rows of one sequence and hookpoint as a [positions, width] matrix in position order.
    func matrix(sequence: Int, hookpoint: Hookpoint) -> [[Float]] {
        let byPosition = rows[sequence]?[hookpoint] ?? [:]
        return (0..<byPosition.count).map { byPosition[$0]! }
    }
}

func allHookpoints(layers: Int) -> [Hookpoint] {
    (0..<layers).flatMap { [Hookpoint.layer($0), .mlp($0)] } + (0...layers).map { Hookpoint.hiddenStates($0) }
}

/// Largest |a − b| over two equally shaped row sets, and the largest |b| (the reference scale).
func maxDifference(_ a: [[Float]], _ b: [[Float]]) -> (difference: Float, scale: Float) {
    precondition(a.count == b.count)
    var difference: Float = 0, scale: Float = 0
    for (x, y) in zip(a, b) {
        precondition(x.count == y.count)
        for (u, v) in zip(x, y) {
            difference = max(difference, abs(u - v))
            scale = max(scale, abs(v))
        }
    }
    return (difference, scale)
}
