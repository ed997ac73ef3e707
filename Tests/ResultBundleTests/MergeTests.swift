import Foundation
import Testing
import TestSupport
@testable import ResultBundle

@Suite struct MergeTests {
    typealias F = BundleFixtures

    @Test func mergingTwoHalvesGivesTheFullRun() throws {
        let scratch = TemporaryDirectory("merge")
        let tasks = (0..<10).map { F.task(index: $0) }
        let failure = RunManifest.FailedProblem(id: "gsm8k:train:10", reasons: ["timeout", "worker died"])
        let full = try F.runBundle(tasks, selected: F.ids(0..<11), failed: [failure], out: scratch.subdirectory("full"))
        let first = try F.runBundle(Array(tasks[0..<4]), selected: F.ids(0..<4), out: scratch.subdirectory("first"))
        let second = try F.runBundle(Array(tasks[4..<10]), selected: F.ids(4..<11), failed: [failure], out: scratch.subdirectory("second"))
        let merged = scratch.file("merged")
        try BundleMerger.merge(bundles: [second, first], to: merged)
        let expected = try F.bundleFiles(full)
        let observed = try F.bundleFiles(merged)
        #expect(expected.keys.sorted() == observed.keys.sorted())
        for (name, data) in expected { #expect(observed[name] == data, "\(name) differs") }
    }

    @Test func overlappingBundlesWithIdenticalProblemsMerge() throws {
        let scratch = TemporaryDirectory("merge")
        let tasks = (0..<6).map { F.task(index: $0) }
        let full = try F.runBundle(tasks, selected: F.ids(0..<6), out: scratch.subdirectory("full"))
        let a = try F.runBundle(Array(tasks[0..<4]), selected: F.ids(0..<4), out: scratch.subdirectory("a"))
        let b = try F.runBundle(Array(tasks[2..<6]), selected: F.ids(2..<6), out: scratch.subdirectory("b"))
        let merged = scratch.file("merged")
        try BundleMerger.merge(bundles: [a, b], to: merged)
        #expect(try F.bundleFiles(merged) == F.bundleFiles(full))
    }

    @Test func mergeRefusesADifferentModel() throws {
        let scratch = TemporaryDirectory("merge")
        let a = try F.runBundle([F.task(index: 0)], selected: F.ids(0..<1), out: scratch.subdirectory("a"))
        let b = scratch.subdirectory("b")
        let store = try RunStore(outDirectory: b)
        _ = try store.commit(F.task(index: 1))
        try store.writeBundle(manifest: F.manifest(selected: F.ids(1..<2), modelFingerprint: "other-model"), run: .null, decoder: F.Decoder())
        #expect {
            try BundleMerger.merge(bundles: [a, b], to: scratch.file("merged"))
        } throws: { error in
            "\(error)".contains("model weights (fingerprint model-abc vs other-model)")
        }
    }

    @Test func mergeRefusesDifferentGenerationSettings() throws {
        let scratch = TemporaryDirectory("merge")
        let a = try F.runBundle([F.task(index: 0)], selected: F.ids(0..<1), out: scratch.subdirectory("a"))
        let b = scratch.subdirectory("b")
        let store = try RunStore(outDirectory: b)
        _ = try store.commit(F.task(index: 1))
        try store.writeBundle(manifest: F.manifest(selected: F.ids(1..<2), temperature: 1.0), run: .null, decoder: F.Decoder())
        #expect {
            try BundleMerger.merge(bundles: [a, b], to: scratch.file("merged"))
        } throws: { error in
            "\(error)".contains("generation settings")
        }
    }

    @Test func mergeRefusesBundlesOfDifferentDatasetFiles() throws {
        let scratch = TemporaryDirectory("merge")
        func bundle(_ name: String, index: Int, sha256: String) throws -> String {
            let directory = scratch.subdirectory(name)
            let store = try RunStore(outDirectory: directory)
            _ = try store.commit(F.task(index: index))
            var manifest = F.manifest(selected: F.ids(index..<(index + 1)))
            manifest.dataset = .object(["name": .string("math500"), "sha256": .string(sha256)])
            try store.writeBundle(manifest: manifest, run: .null, decoder: F.Decoder())
            return directory
        }
        let a = try bundle("a", index: 0, sha256: "aaaa")
        let b = try bundle("b", index: 1, sha256: "bbbb")
        #expect {
            try BundleMerger.merge(bundles: [a, b], to: scratch.file("merged"))
        } throws: { error in
            "\(error)".contains("dataset file")
        }
    }

    @Test func aManifestWithoutADatasetHasNoDatasetKeyAndOneWithItReadsBack() throws {
        let scratch = TemporaryDirectory("merge")
        let plain = try F.runBundle([F.task(index: 0)], selected: F.ids(0..<1), out: scratch.subdirectory("plain"))
        let text = try String(contentsOfFile: plain + "/manifest.json", encoding: .utf8)
        #expect(!text.contains("\"dataset\""), "a GSM8K bundle's manifest is as it was before JSONL sets")
        #expect(try RunManifest.read(bundle: plain).dataset == nil)

        let withSet = scratch.subdirectory("with-set")
        let store = try RunStore(outDirectory: withSet)
        _ = try store.commit(F.task(index: 0))
        var manifest = F.manifest(selected: F.ids(0..<1))
        let dataset: JSONValue = .object(["name": .string("math500"), "sha256": .string("abc")])
        manifest.dataset = dataset
        try store.writeBundle(manifest: manifest, run: .null, decoder: F.Decoder())
        #expect(try RunManifest.read(bundle: withSet).dataset == dataset)
    }

    @Test func mergeRefusesAProblemThatDiffersBetweenBundles() throws {
        let scratch = TemporaryDirectory("merge")
        var changed = F.task(index: 2)
        changed.record.text = "another sample"
        let a = try F.runBundle([F.task(index: 1), F.task(index: 2)], selected: F.ids(1..<3), out: scratch.subdirectory("a"))
        let b = try F.runBundle([changed], selected: F.ids(2..<3), out: scratch.subdirectory("b"))
        #expect {
            try BundleMerger.merge(bundles: [a, b], to: scratch.file("merged"))
        } throws: { error in
            "\(error)".contains("problem gsm8k:train:2: differs between")
        }
    }

    @Test func mergeRefusesAnOutputDirectoryThatIsNotEmpty() throws {
        let scratch = TemporaryDirectory("merge")
        let a = try F.runBundle([F.task(index: 0)], selected: F.ids(0..<1), out: scratch.path)
        #expect {
            try BundleMerger.merge(bundles: [a], to: a)
        } throws: { error in
            "\(error)".contains("is also an input bundle")
        }
    }
}
