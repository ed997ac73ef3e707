import Experiment
import Testing

/// Problem samples, synthetic bundles and fixtures depend on this exact sequence.
@Suite struct SplitMix64Tests {
    @Test func theSequenceIsTheReferenceSplitMix64() {
        var g = SplitMix64(seed: 0)
        #expect([g.next(), g.next(), g.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test func unitIsInTheHalfOpenInterval() {
        var g = SplitMix64(seed: 9)
        for _ in 0..<1000 {
            let u = g.unit()
            #expect(u >= 0 && u < 1)
        }
    }

    @Test func belowStaysBelowAndZeroForEmptyRanges() {
        var g = SplitMix64(seed: 3)
        #expect((0..<1000).allSatisfy { _ in g.below(7) < 7 })
        #expect(g.below(0) == 0)
    }
}
