import Foundation
import Testing
import TestSupport
@testable import ResultBundle

/// Every --out has a run-settings.json, a merge's too (the hardening issue's defect 5).
@Suite struct MergeSettingsTests {
    typealias F = BundleFixtures

    static func bundle(_ indices: Range<Int>, in directory: TemporaryDirectory, name: String) throws -> String {
        let out = directory.subdirectory(name)
        let store = try RunStore(outDirectory: out)
        for i in indices { _ = try store.commit(F.task(index: i)) }
        try store.writeBundle(manifest: F.manifest(selected: F.ids(indices)), run: .null, decoder: F.Decoder())
        return out
    }

    @Test func aMergeRecordsTheSettingsOfTheMergedRun() throws {
        let directory = TemporaryDirectory("merge-settings")
        let first = try Self.bundle(0..<3, in: directory, name: "first")
        let second = try Self.bundle(3..<6, in: directory, name: "second")
        let out = directory.file("merged")
        try BundleMerger.merge(bundles: [first, second], to: out)
        let written = try String(contentsOfFile: out + "/" + RunSettingsFile.fileName, encoding: .utf8)
        let manifest = try RunManifest.read(bundle: out)
        #expect(written == RunSettingsFile.text(for: manifest))
        #expect(written.contains("\"problems\" : \"gsm8k:train[0:6]\"") || written.contains("\"problems\": \"gsm8k:train[0:6]\""))
    }
}
