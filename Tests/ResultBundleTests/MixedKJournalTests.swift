import Foundation
import Testing
import TestSupport
@testable import ResultBundle

/// A journal holding problems whose latents at one hookpoint have different k (written around
/// `RunStore`, which refuses the second) must be refused by name when a bundle is written
/// from it, not crash.
@Suite struct MixedKJournalTests {
    typealias F = BundleFixtures

    @Test func aBundleFromProblemsOfDifferentKIsRefusedNamingTheHookpoint() throws {
        let scratch = TemporaryDirectory("mixed-k")
        let out = scratch.subdirectory("out")
        let journal = try TaskJournal(directory: out + "/journal")
        try journal.append(F.task(index: 0))
        var narrow = F.task(index: 1)
        for name in narrow.latents.keys {
            let rows = narrow.latents[name]!
            let k = rows.k - 1
            narrow.latents[name] = LatentRows(k: k, positions: rows.positions, tokens: rows.tokens, segments: rows.segments,
                                              indices: (0..<(rows.rowCount * k)).map { Int32($0 % 60) },
                                              activations: (0..<(rows.rowCount * k)).map { _ in 1 })
        }
        try journal.append(narrow)
        #expect {
            try BundleWriter.write(source: journal, manifest: F.manifest(selected: F.ids(0..<2)), run: .object([:]), decoder: F.Decoder(), to: out)
        } throws: { "\($0)".contains("gsm8k:train:1") && "\($0)".contains("k is 3 but other problems have 4") }
    }
}
