import Checkpoints
import CKernels

/// Qwen2's SwiGLU MLP: down(silu(gate(x)) · up(x)), no biases.
enum Qwen2MLP {
    /// Reads `normed` ([rows, hidden]) and leaves the MLP output in `workspace.projected` ([rows, hidden]).
    static func forward(weights: Qwen2LayerWeights, config: Qwen2Configuration, rows: Int, workspace ws: Qwen2Workspace) {
        let hidden = config.hiddenSize, intermediate = config.intermediateSize
        let gateUp = ws.gateUp.pointer  // [rows, intermediate (gate) | intermediate (up)]
        Kernels.linear(ws.normed.pointer, rows: rows, k: hidden, ldx: hidden,
                       LinearOutput(matrix: weights.gateProj, bias: nil, y: gateUp, ldy: 2 * intermediate),
                       LinearOutput(matrix: weights.upProj, bias: nil, y: gateUp + intermediate, ldy: 2 * intermediate))
        // silu(gate) · up overwrites the gate half; down_proj reads it with row stride 2·intermediate.
        for r in 0..<rows {
            let row = gateUp + r * 2 * intermediate
            tl_swiglu(row, row + intermediate, Int64(intermediate), row)
        }
        Kernels.linear(gateUp, rows: rows, k: intermediate, ldx: 2 * intermediate,
                       LinearOutput(matrix: weights.downProj, bias: nil, y: ws.projected.pointer, ldy: hidden))
    }
}
