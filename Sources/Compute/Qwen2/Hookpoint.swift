/// A named place in the forward pass whose activations can be captured.
public enum Hookpoint: Hashable, Sendable, CustomStringConvertible {
    /// `layers.N`: output of decoder block N (the residual stream after it), 0-based.
    case layer(Int)
    /// `layers.N.mlp`: output of block N's MLP before the residual add (what EleutherAI's
    /// R1-distill SAEs were trained on).
    case mlp(Int)
    /// `hidden_states.N`: Hugging Face `output_hidden_states[N]`; 0 is the embeddings, N < layers is
    /// `layers.(N-1)`, and N = layers is the final-normed output (transformers ties the last entry
    /// to `last_hidden_state`).
    case hiddenStates(Int)

    public var description: String {
        switch self {
        case .layer(let n): return "layers.\(n)"
        case .mlp(let n): return "layers.\(n).mlp"
        case .hiddenStates(let n): return "hidden_states.\(n)"
        }
    }

    /// Parses `layers.N`, `layers.N.mlp` or `hidden_states.N`, checking N against the model.
    public init(parsing text: String, layerCount: Int) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        func index(_ s: String, limit: Int) throws -> Int {
            guard let n = Int(s), n >= 0 else {
                throw HookpointError(text: text, reason: "'\(s)' is not a non-negative layer index")
            }
            guard n <= limit else {
                throw HookpointError(text: text, reason: "index \(n) is past the last valid index \(limit) of this \(layerCount)-layer model")
            }
            return n
        }
        switch (parts.first, parts.count) {
        case ("layers", 2): self = .layer(try index(parts[1], limit: layerCount - 1))
        case ("layers", 3) where parts[2] == "mlp": self = .mlp(try index(parts[1], limit: layerCount - 1))
        case ("hidden_states", 2): self = .hiddenStates(try index(parts[1], limit: layerCount))
        default:
            throw HookpointError(text: text, reason: "expected layers.N, layers.N.mlp or hidden_states.N")
        }
    }
}

public struct HookpointError: Error, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "hookpoint '\(text)': \(reason)" }
}

/// The requested hookpoints as per-layer flags, so the forward pass checks them at no cost.
struct HookSelection {
    let layerOutputs: [Bool]   // [layers]
    let mlpOutputs: [Bool]     // [layers]
    let hiddenStates: [Bool]   // [layers + 1]
    let isEmpty: Bool

    init(_ hookpoints: [Hookpoint], layerCount: Int) {
        var layer = [Bool](repeating: false, count: layerCount)
        var mlp = layer
        var hidden = [Bool](repeating: false, count: layerCount + 1)
        for h in hookpoints {
            switch h {
            case .layer(let n): layer[n] = true
            case .mlp(let n): mlp[n] = true
            case .hiddenStates(let n): hidden[n] = true
            }
        }
        layerOutputs = layer
        mlpOutputs = mlp
        hiddenStates = hidden
        isEmpty = hookpoints.isEmpty
    }
}
