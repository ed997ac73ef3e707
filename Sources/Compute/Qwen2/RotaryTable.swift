import Checkpoints
import Foundation

/// Rotary-embedding angles for every position up to the KV-cache capacity, computed as
/// transformers does in float32: inv_freq[i] = 1 / θ^(2i/d), angle = position · inv_freq[i].
struct RotaryTable {
    let half: Int
    let cos: FloatBuffer   // [capacity, headDim / 2]
    let sin: FloatBuffer   // [capacity, headDim / 2]

    init(headDim: Int, theta: Double, capacity: Int) {
        half = headDim / 2
        cos = FloatBuffer(count: capacity * half)
        sin = FloatBuffer(count: capacity * half)
        for i in 0..<half {
            let exponent = Float(2 * i) / Float(headDim)
            let inverseFrequency = 1 / Float(Foundation.pow(theta, Double(exponent)))
            for position in 0..<capacity {
                let angle = Float(position) * inverseFrequency
                cos[position * half + i] = Float(Foundation.cos(Double(angle)))
                sin[position * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
    }
}
