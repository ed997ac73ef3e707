import Foundation
@_exported import Experiment

/// Seeded random values for tests, all drawn from the one `SplitMix64`, so every random test
/// and generated fixture replays exactly on every machine.
extension SplitMix64 {
    /// Uniform in [0, 1) with 24 bits (exactly representable as a Float).
    public mutating func uniformFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// Standard normal (Box–Muller on two 24-bit uniforms, the first kept away from 0).
    public mutating func normalFloat() -> Float {
        let u1 = max(uniformFloat(), 1e-7), u2 = uniformFloat()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    public mutating func normalFloats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in scale * normalFloat() }
    }

    /// Standard normal from two 53-bit uniforms (Box–Muller in double precision).
    public mutating func standardNormal() -> Float {
        let u1 = (Double(next() >> 11) + 1) / 9_007_199_254_740_993.0
        let u2 = Double(next() >> 11) / 9_007_199_254_740_992.0
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
