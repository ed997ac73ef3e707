import Checkpoints

/// The floating-point operations of a Qwen2 forward pass's matrix products (2 per multiply-add),
/// read from the configuration, for turning the generation benchmark's times into GFLOP/s and a
/// share of the machine's FMA peak. Attention's scores and value sums, the norms and the
/// activation functions are left out (under 2% at the benchmark's short contexts).
struct MatrixFlops {
    /// Every decoder layer's linear layers for one position: q/k/v, o, gate/up and down.
    let decoderPerRow: Double
    /// lm_head for one row that produces logits.
    let lmHeadPerRow: Double

    init(_ config: Qwen2Configuration) {
        let hidden = Double(config.hiddenSize), intermediate = Double(config.intermediateSize)
        let perLayer = hidden * Double(config.queryWidth + 2 * config.keyValueWidth)  // q/k/v
            + Double(config.queryWidth) * hidden                                     // o
            + hidden * 2 * intermediate                                             // gate/up
            + intermediate * hidden                                                 // down
        decoderPerRow = 2 * perLayer * Double(config.numHiddenLayers)
        lmHeadPerRow = 2 * hidden * Double(config.vocabSize)
    }

    /// A step over `rows` positions of which `logitRows` produce logits (the Generator runs
    /// lm_head only on a sequence's last prompt row and on decode rows).
    func step(rows: Int, logitRows: Int) -> Double {
        Double(rows) * decoderPerRow + Double(logitRows) * lmHeadPerRow
    }
}
