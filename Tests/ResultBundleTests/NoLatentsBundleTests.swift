import Foundation
import Testing
import TestSupport
@testable import ResultBundle

/// A condition of an `--intervene` run with `--intervention-latents none` keeps only its
/// generations: its bundle has inferences and no latents or tables.
@Suite struct NoLatentsBundleTests {
    typealias F = BundleFixtures

    @Test func aBundleWithoutHookpointsHoldsTheGenerationsOnly() throws {
        let scratch = TemporaryDirectory("no-latents")
        let out = scratch.subdirectory("condition")
        let tasks = (0..<3).map { index -> CommittedTask in
            var task = F.task(index: index)
            task.latents = [:]
            task.fvu = [:]
            return task
        }
        let store = try RunStore(outDirectory: out, hookpoints: [])
        #expect(try store.commit(tasks) == [.committed, .committed, .committed])
        let summary = try store.writeBundle(manifest: F.manifest(selected: F.ids(0..<3), hookpoints: []), run: .object([:]), decoder: F.Decoder())
        #expect(summary.problems == 3)
        let files = try F.bundleFiles(out)
        #expect(files["inferences.jsonl"].map { String(decoding: $0, as: UTF8.self).split(separator: "\n").count } == 3)
        #expect(files.keys.contains("manifest.json"))
        #expect(!files.keys.contains { $0.hasPrefix("tables/") || $0.hasSuffix(".safetensors") })
        let reread = try BundleReader(directory: out)
        #expect(try reread.task(1).record == tasks[1].record)
    }
}
