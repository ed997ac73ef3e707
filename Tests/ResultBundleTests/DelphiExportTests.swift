import Experiment
import SafeTensors
import Foundation
import Testing
import TestSupport
@testable import ResultBundle

/// `thinklens export delphi`: the layout and the values of delphi's latent cache, checked
/// against a hand-made bundle whose every entry is worked out below.
@Suite struct DelphiExportTests {
    static let hookpoint = "layers.1.mlp"
    static let eos: Int32 = 99

    /// Two problems, one hookpoint, k = 2 of 10 latents, written through `RunStore` as a run
    /// writes them. With `ctxLen` 4 the rows are
    ///   0: [1, 2, 3, 4]   1: [5, 6, 7, 8]      problem train:0 (prompt 1 2 3, generated 4…8)
    ///   2: [11, 12, 13, 14]   3: [15, 99, 99, 99]   problem train:1 (prompt 11 12, generated 13 14 15)
    /// and the latents of the generated positions are, as (position: [latent activation, …]):
    ///   train:0  3: [7 2.5, 2 0.5]  4: [1 3, 9 0]  5: [6 1, 5 1e-6]  6: [0 0.1, 4 0.1]  7: [8 2, 3 1.5]
    ///   train:1  2: [3 4, 8 1.25]  3: [5 0.75, 0 0.5]  4: [9 2, 2 0.2]
    static func handMadeBundle(in directory: String, numLatents: Int = 10, latentShift: Int32 = 0, eos: Int32? = eos) throws -> String {
        func task(index: Int, prompt: [Int32], generated: [Int32], latents: [(Int32, Float, Int32, Float)]) -> CommittedTask {
            let record = ProblemRecord(id: "gsm8k:train:\(index)", split: "train", index: index, question: "q\(index)", gold: "1",
                                       promptIDs: prompt, generatedIDs: generated, text: "t", stop: .eos, answer: "1",
                                       verdict: .correct, thinkEnd: nil)
            let positions = (prompt.count..<record.sequenceLength).map { Int32($0) }
            let rows = LatentRows(k: 2, positions: positions, tokens: positions.map { record.token(at: Int($0)) },
                                  indices: latents.flatMap { [$0.0 + latentShift, $0.2 + latentShift] },
                                  activations: latents.flatMap { [$0.1, $0.3] }, record: record)
            return CommittedTask(record: record, latents: [hookpoint: rows], fvu: [hookpoint: 0.5])
        }
        let tasks = [
            task(index: 0, prompt: [1, 2, 3], generated: [4, 5, 6, 7, 8],
                 latents: [(7, 2.5, 2, 0.5), (1, 3, 9, 0), (6, 1, 5, 1e-6), (0, 0.1, 4, 0.1), (8, 2, 3, 1.5)]),
            task(index: 1, prompt: [11, 12], generated: [13, 14, 15],
                 latents: [(3, 4, 8, 1.25), (5, 0.75, 0, 0.5), (9, 2, 2, 0.2)]),
        ]
        let store = try RunStore(outDirectory: directory)
        for task in tasks.reversed() { _ = try store.commit(task) }
        var config: [String: JSONValue] = ["hidden_size": .int(16)]
        if let eos { config["eos_token_id"] = .array([.int(Int64(eos)), .int(7)]) }
        let manifest = RunManifest(
            thinklensVersion: "0.1.0", model: .init(config: .object(config), fingerprint: "model"), tokenizerFingerprint: "tok",
            saes: [hookpoint: .init(cfg: .object(["k": .int(2), "num_latents": .int(Int64(numLatents))]), fingerprint: "sae")],
            generation: .object(["include_prompt": .bool(false)]), promptFormat: .string("{question}"),
            selectedProblemIDs: ["gsm8k:train:0", "gsm8k:train:1"], hookpoints: [hookpoint], failed: [])
        try store.writeBundle(manifest: manifest, run: .object([:]), decoder: BundleFixtures.Decoder())
        return directory
    }

    /// (row, position in row, latent − start) triples and activations of one range file.
    struct RangeContents: Equatable {
        var locations: [[Int32]]
        var activations: [Float]
    }

    static func read(_ path: String) throws -> (contents: RangeContents, locationsDType: TensorDType, tokens: TensorView) {
        let file = try SafeTensorsFile(path: path)
        let locations = try file.tensor("locations")
        let activations = try file.tensor("activations", shape: [locations.shape[0]], dtypes: [.f16])
        let flat = locations.int32s()
        let triples = stride(from: 0, to: flat.count, by: 3).map { Array(flat[$0..<($0 + 3)]) }
        #expect(locations.shape == [triples.count, 3])
        return (RangeContents(locations: triples, activations: activations.floats()), locations.dtype, try file.tensor("tokens"))
    }

    func export(_ scratch: TemporaryDirectory, options: DelphiExport.Options = .init(splits: 2, ctxLen: 4), numLatents: Int = 10,
                latentShift: Int32 = 0) throws -> (out: String, summary: DelphiExport.Summary) {
        let bundle = try Self.handMadeBundle(in: scratch.subdirectory("bundle"), numLatents: numLatents, latentShift: latentShift)
        let out = scratch.file("export")
        return (out, try DelphiExport.export(bundle: bundle, to: out, options: options))
    }

    @Test func latentRangesAreLinspaceBoundariesWithInclusiveEnds() {
        // linspace(0, 65536, 6) = 0, 13107.2, 26214.4, 39321.6, 52428.8, 65536, truncated.
        #expect(DelphiExport.latentRanges(numLatents: 65_536, splits: 5) == [0...13_106, 13_107...26_213, 26_214...39_320, 39_321...52_427, 52_428...65_535])
        // linspace(0, 64, 4) = 0, 21.3, 42.7, 64.
        #expect(DelphiExport.latentRanges(numLatents: 64, splits: 3) == [0...20, 21...41, 42...63])
        #expect(DelphiExport.latentRanges(numLatents: 10, splits: 1) == [0...9])
    }

    @Test func eachHookpointGetsOneFilePerRangeAndAConfig() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, _) = try export(scratch)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(out)/latents/\(Self.hookpoint)").sorted()
        #expect(files == ["0_4.safetensors", "5_9.safetensors", "config.json"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["README.md", "latents"])
    }

    @Test func tokensAreEachProblemsSequenceInCtxLenRowsWithTheLastRowPaddedWithEOS() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, summary) = try export(scratch)
        let tokens = try Self.read("\(out)/latents/\(Self.hookpoint)/0_4.safetensors").tokens
        #expect(tokens.dtype == .i32)
        #expect(tokens.shape == [4, 4])
        #expect(tokens.int32s() == [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 99, 99, 99])
        #expect(summary.rows == 4)
        #expect(summary.eosID == 99)  // the first of the model config's eos_token_id list
    }

    @Test func everyRangeFileHoldsTheSameTokens() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, _) = try export(scratch, options: .init(splits: 3, ctxLen: 3))
        let directory = "\(out)/latents/\(Self.hookpoint)"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".safetensors") }.sorted()
        #expect(names.count == 3)
        let all = try names.map { try Self.read("\(directory)/\($0)").tokens.int32s() }
        #expect(all.allSatisfy { $0 == [1, 2, 3, 4, 5, 6, 7, 8, 99, 11, 12, 13, 14, 15, 99] })
    }

    @Test func entriesAreTheBundlesNonZeroLatentsInRowPositionLatentOrder() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, _) = try export(scratch)
        let low = try Self.read("\(out)/latents/\(Self.hookpoint)/0_4.safetensors").contents
        // Latents 0…4; 0.1 and 0.2 are their nearest float16 values.
        #expect(low == RangeContents(
            locations: [[0, 3, 2], [1, 0, 1], [1, 2, 0], [1, 2, 4], [1, 3, 3], [2, 2, 3], [2, 3, 0], [3, 0, 2]],
            activations: [0.5, 3, 0.0999755859375, 0.0999755859375, 1.5, 4, 0.5, 0.199951171875]))
        let high = try Self.read("\(out)/latents/\(Self.hookpoint)/5_9.safetensors").contents
        // Latents 5…9 as latent − 5; train:0's latent 9 at position 4 (activation 0) and latent 5
        // at position 5 (1e-6) are left out.
        #expect(high == RangeContents(
            locations: [[0, 3, 2], [1, 1, 1], [1, 3, 3], [2, 2, 3], [2, 3, 0], [3, 0, 4]],
            activations: [2.5, 1, 2, 1.25, 0.75, 2]))
    }

    @Test func locationsAreUInt16WhenEveryValueFitsElseUInt32() throws {
        let scratch = TemporaryDirectory("delphi")
        // 140,000 latents shifted up by 70,000 in two ranges of 70,000: the first range is
        // empty, the second's offsets are the hand-made latents 0…9, so they fit uint16.
        let (narrow, _) = try export(scratch, options: .init(splits: 2, ctxLen: 4), numLatents: 140_000, latentShift: 70_000)
        let directory = "\(narrow)/latents/\(Self.hookpoint)"
        #expect(try Self.read("\(directory)/0_69999.safetensors").locationsDType == .u16)
        #expect(try Self.read("\(directory)/0_69999.safetensors").contents.locations.isEmpty)
        #expect(try Self.read("\(directory)/70000_139999.safetensors").locationsDType == .u16)
        // One range of all 140,000: offsets 70,000…70,009 need uint32, and keep their values.
        let wide = TemporaryDirectory("delphi")
        let (out, summary) = try export(wide, options: .init(splits: 1, ctxLen: 4), numLatents: 140_000, latentShift: 70_000)
        let file = try Self.read("\(out)/latents/\(Self.hookpoint)/0_139999.safetensors")
        #expect(file.locationsDType == .u32)
        #expect(summary.hookpoints[0].files[0].locationsDType == .u32)
        #expect(file.contents.locations.first == [0, 3, 70_002])
    }

    @Test(arguments: [false, true])
    func promptPositionsHaveLatentsOnlyWhenTheRunKeptThem(includePrompt: Bool) throws {
        let scratch = TemporaryDirectory("delphi")
        // One problem with a 5-token prompt; ctxLen 64 puts the whole sequence in row 0.
        let task = BundleFixtures.task(index: 1, includePrompt: includePrompt)
        let bundle = try BundleFixtures.runBundle([task], selected: BundleFixtures.ids(1..<2), out: scratch.subdirectory("bundle"))
        let out = scratch.file("export")
        try DelphiExport.export(bundle: bundle, to: out, options: .init(hookpoints: ["layers.5.mlp"], splits: 1, ctxLen: 64, eosID: 5))
        let locations = try Self.read("\(out)/latents/layers.5.mlp/0_63.safetensors").contents.locations
        let positions = Set(locations.map { Int($0[1]) })
        let rows = task.latents["layers.5.mlp"]!
        let captured = Set((0..<rows.rowCount).filter { r in (0..<rows.k).contains { abs(rows.activations[r * rows.k + $0]) > 1e-5 } }
                               .map { Int(rows.positions[$0]) })
        #expect(positions == captured)
        #expect(positions.contains { $0 < 5 } == includePrompt)
    }

    @Test func configJSONHasDelphisCacheConfigKeys() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, _) = try export(scratch)
        let path = "\(out)/latents/\(Self.hookpoint)/config.json"
        let config = try JSONValue.parse(FileManager.default.contents(atPath: path) ?? Data(), source: path)
        #expect(config == .object([
            "model_name": .string(DelphiExport.defaultModelName), "cache_ctx_len": .int(4), "n_tokens": .int(16), "n_splits": .int(2),
            "batch_size": .int(1), "dataset_repo": .string("thinklens-bundle"), "dataset_split": .string("gsm8k:train[0:2]"),
            "dataset_name": .string(""), "dataset_column": .string("text"),
        ]))
    }

    @Test func onlyTheChosenHookpointsAreExported() throws {
        let scratch = TemporaryDirectory("delphi")
        let bundle = try BundleFixtures.runBundle((0..<3).map { BundleFixtures.task(index: $0) }, selected: BundleFixtures.ids(0..<3),
                                                  out: scratch.subdirectory("bundle"))
        let out = scratch.file("export")
        try DelphiExport.export(bundle: bundle, to: out, options: .init(hookpoints: ["layers.10.mlp"], splits: 2, ctxLen: 8, eosID: 5))
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(out)/latents") == ["layers.10.mlp"])
    }

    @Test func theReadmeNamesTheMinExamplesItUsesAndTheDelphiCode() throws {
        let scratch = TemporaryDirectory("delphi")
        let (out, summary) = try export(scratch)
        let readme = try String(contentsOfFile: "\(out)/README.md", encoding: .utf8)
        // Hand-made latents fire in at most 2 distinct 32-token windows: no threshold keeps 10 latents, so the smallest is used.
        #expect(summary.hookpoints[0].latentsWithExamples == [0, 0, 0, 0, 0, 0])
        #expect(readme.contains("ConstructorConfig(min_examples=5, example_ctx_len=32)"))
        #expect(readme.contains("LatentDataset("))
        #expect(readme.contains("--min_examples 5"))
    }

    @Test func exampleWindowsCountTheDistinct32TokenWindowsEachLatentFiresIn() throws {
        // ctxLen 32: each problem is one row, so one 32-token window each. Latents 0, 2, 3 and 8
        // fire in both problems, 1, 4, 6, 7 only in train:0, 5 and 9 only in train:1 (their
        // train:0 activations are 1e-6 and 0).
        let (_, apart) = try export(TemporaryDirectory("delphi"), options: .init(splits: 2, ctxLen: 32))
        #expect(apart.hookpoints[0].exampleWindows == [2, 1, 2, 2, 1, 1, 1, 1, 2, 1])
        // ctxLen 4: the four rows are 16 tokens, all inside the first window.
        let (_, together) = try export(TemporaryDirectory("delphi"), options: .init(splits: 2, ctxLen: 4))
        #expect(together.hookpoints[0].exampleWindows == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    }

    @Test func aHookpointTheBundleLacksIsRefusedByName() throws {
        let scratch = TemporaryDirectory("delphi")
        let bundle = try Self.handMadeBundle(in: scratch.subdirectory("bundle"))
        #expect(throws: RunDataError(subject: "--hookpoints", reason: "'layers.2.mlp' is not a hookpoint of \(bundle) (it has layers.1.mlp)")) {
            try DelphiExport.export(bundle: bundle, to: scratch.file("export"), options: .init(hookpoints: ["layers.2.mlp"]))
        }
    }

    @Test func aNonEmptyOutputDirectoryIsRefused() throws {
        let scratch = TemporaryDirectory("delphi")
        let bundle = try Self.handMadeBundle(in: scratch.subdirectory("bundle"))
        let out = scratch.subdirectory("export")
        FileManager.default.createFile(atPath: "\(out)/keep.txt", contents: Data("x".utf8))
        #expect(throws: RunDataError(subject: out, reason: "is not empty; choose a new --out or remove it (an export never overwrites)")) {
            try DelphiExport.export(bundle: bundle, to: out, options: .init(splits: 2, ctxLen: 4))
        }
    }

    @Test func aModelConfigWithoutEOSNeedsAnExplicitPaddingID() throws {
        let scratch = TemporaryDirectory("delphi")
        let bundle = try Self.handMadeBundle(in: scratch.subdirectory("bundle"), eos: nil)
        #expect(throws: RunDataError(subject: "manifest.json: model.config.eos_token_id",
                                     reason: "is missing or not a token id; pass --eos-id with the id that pads a problem's last row")) {
            try DelphiExport.export(bundle: bundle, to: scratch.file("export"), options: .init(splits: 2, ctxLen: 4))
        }
        let summary = try DelphiExport.export(bundle: bundle, to: scratch.file("export"), options: .init(splits: 2, ctxLen: 4, eosID: 0))
        #expect(summary.eosID == 0)
    }

    @Test func moreSplitsThanLatentsIsRefused() throws {
        let scratch = TemporaryDirectory("delphi")
        let bundle = try Self.handMadeBundle(in: scratch.subdirectory("bundle"))
        #expect(throws: RunDataError(subject: "--splits", reason: "11 is more than the 10 latents of layers.1.mlp; each file needs at least one latent")) {
            try DelphiExport.export(bundle: bundle, to: scratch.file("export"), options: .init(splits: 11))
        }
    }
}
