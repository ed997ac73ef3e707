import Foundation
import Testing
import TestSupport
@testable import ResultBundle

/// A coordinator killed while writing the bundle leaves `NAME.tmp-PID` files; the next start
/// with the same --out removes them (the hardening issue's defect 4).
@Suite struct LeftoverFilesTests {
    @Test func openingTheStoreRemovesTemporaryFilesOfAnInterruptedBundleWrite() throws {
        let out = TemporaryDirectory("leftovers")
        let fm = FileManager.default
        let leftovers = [
            out.file("manifest.json.tmp-4242"),
            out.subdirectory("latents") + "/layers.5.mlp.safetensors.tmp-17",
            out.subdirectory("tables/layers.5.mlp") + "/features.csv.tmp-9",
        ]
        let kept = [out.file("notes.tmp-later"), out.file("run.json"), out.file(".tmp-1")]
        for path in leftovers + kept { fm.createFile(atPath: path, contents: Data("x".utf8)) }
        let store = try RunStore(outDirectory: out.path)
        #expect(Set(store.leftoversRemoved) == Set(leftovers))
        for path in leftovers { #expect(!fm.fileExists(atPath: path)) }
        for path in kept { #expect(fm.fileExists(atPath: path)) }
    }

    @Test(arguments: [("features.csv.tmp-123", true), ("x.tmp-", false), ("x.tmp-12a", false), ("tmp-12", false), (".tmp-3", false)])
    func temporaryNamesAreNameDotTmpDashDigits(name: String, temporary: Bool) {
        #expect(BundleLayout.isTemporaryName(name) == temporary)
    }
}
