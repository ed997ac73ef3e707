import SafeTensors
import Compute
import Foundation
import Testing
import TestSupport

/// Golden tests against EleutherAI sparsify (scripts/make-sae-fixtures.py).
@Suite("SAE parity with sparsify")
struct SAEParityTests {
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        /// Tolerance on activations, relative to the row's largest (see maxSAERowRelativeDifference).
        let tolerance: Float
        var description: String { name }
    }

    /// bf16 weights are widened exactly and the arithmetic is float32, so every case is held
    /// to the float32 tolerance against sparsify computing in float32 on the same weights.
    static let cases = [
        Case(name: "f32", tolerance: 1e-5),
        Case(name: "bf16-expansion", tolerance: 1e-5),
        Case(name: "ties", tolerance: 1e-5),
        Case(name: "groupmax", tolerance: 1e-5),
        Case(name: "skip", tolerance: 1e-5),
    ]

    @Test("every row has sparsify's top-k indices, in order, and its activations", arguments: cases)
    func encodingMatchesSparsify(_ c: Case) throws {
        let sae = try SAEFixtures.sae(c.name)
        let reference = try SAEFixtures.reference(c.name)
        let x = try reference.floats("x")
        let rows = x.count / sae.dIn
        let latents = sae.encode(x, rows: rows)
        let expectedIndices = try reference.int32s("indices")
        let expectedActs = try reference.floats("acts")
        var mismatchedRows: [Int] = []
        for r in 0..<rows where latents.indices[(r * sae.k)..<((r + 1) * sae.k)] != expectedIndices[(r * sae.k)..<((r + 1) * sae.k)] {
            mismatchedRows.append(r)
        }
        let difference = maxSAERowRelativeDifference(latents.activations, expectedActs, k: sae.k)
        let elementwise = maxSAERelativeDifference(latents.activations, expectedActs)
        print("SAE parity \(c.name): \(rows) rows, k \(sae.k), max activation difference \(difference) relative to the row's largest (\(elementwise) elementwise)")
        #expect(mismatchedRows.isEmpty, "rows with different top-k indices: \(mismatchedRows)")
        #expect(difference <= c.tolerance)
    }

    @Test("positive counts match sparsify's pre-activations", arguments: cases)
    func positiveCountsMatch(_ c: Case) throws {
        let sae = try SAEFixtures.sae(c.name)
        let reference = try SAEFixtures.reference(c.name)
        let x = try reference.floats("x")
        let latents = sae.encode(x, rows: x.count / sae.dIn)
        #expect(latents.positiveCounts == (try reference.int32s("positives")))
    }

    @Test("fraction of variance unexplained matches sparsify's forward().fvu", arguments: cases)
    func fvuMatchesSparsify(_ c: Case) throws {
        let sae = try SAEFixtures.sae(c.name)
        let reference = try SAEFixtures.reference(c.name)
        let x = try reference.floats("x")
        let fvu = try sae.fractionOfVarianceUnexplained(x, rows: x.count / sae.dIn)
        let expected = Double(try reference.floats("fvu")[0])
        let relative = abs(fvu - expected) / expected
        print("SAE FVU \(c.name): ours \(fvu), sparsify \(expected), relative difference \(relative)")
        #expect(relative <= 1e-4)
    }

    @Test("inputs the SAE was not trained on give FVU above the warning threshold")
    func mismatchedInputsGiveHighFVU() throws {
        let sae = try SAEFixtures.sae("f32")
        let reference = try SAEFixtures.reference("f32")
        let fitting = try reference.floats("x")
        let far = try reference.floats("x_far")
        let fitFVU = try sae.fractionOfVarianceUnexplained(fitting, rows: fitting.count / sae.dIn)
        let farFVU = try sae.fractionOfVarianceUnexplained(far, rows: far.count / sae.dIn)
        let expectedFar = Double(try reference.floats("fvu_far")[0])
        print("SAE FVU fitting \(fitFVU), mismatched \(farFVU) (sparsify \(expectedFar))")
        #expect(fitFVU < SparseAutoencoder.poorFitFVU)
        #expect(farFVU > SparseAutoencoder.poorFitFVU)
        #expect(abs(farFVU - expectedFar) / expectedFar <= 1e-4)
    }

    @Test("exact ties go to the lower latent index and short rows are padded with the lowest unused indices")
    func tiesAndShortRows() throws {
        let sae = try SAEFixtures.sae("ties")
        let x = try SAEFixtures.reference("ties").floats("x")
        let latents = sae.encode(x, rows: x.count / sae.dIn)
        // Row 0 is x == b_dec: exactly the three latents with positive bias and their copies
        // (latent + 256) fire, all at the bias value 0.25.
        #expect(Array(latents.indices[0..<6]) == [3, 40, 77, 259, 296, 333])
        #expect(Array(latents.activations[0..<6]) == [Float](repeating: 0.25, count: 6))
        #expect(latents.positiveCounts[0] == 6)
        #expect(Array(latents.indices[6..<10]) == [0, 1, 2, 4])
        #expect(latents.activations[6..<32].allSatisfy { $0 == 0 })
    }

    @Test("bf16 weights give bit-identical latents to the same weights stored as f32")
    func bf16IsWidenedExactly() throws {
        let sae = try SAEFixtures.sae("bf16-expansion")
        #expect(sae.weightDType == .bf16)
        #expect(sae.numLatents == 1024)  // num_latents 0 → d_in 64 × expansion_factor 16
        let scratch = TemporaryDirectory("sae")
        let folder = scratch.subdirectory(SAEFixtures.hookpoint)
        let source = try SAETensorFile(path: (sae.directory as NSString).appendingPathComponent("sae.safetensors"))
        var writer = SafeTensorsWriter()
        for name in source.file.tensorNames {
            writer.add(name, shape: try source.shape(name), floats: try source.floats(name))
        }
        try writer.write(to: (folder as NSString).appendingPathComponent("sae.safetensors"))
        try FileManager.default.copyItem(atPath: (sae.directory as NSString).appendingPathComponent("cfg.json"),
                                         toPath: (folder as NSString).appendingPathComponent("cfg.json"))
        let wide = try SparseAutoencoder(checkpoint: scratch.path, hookpoint: SAEFixtures.hookpoint)
        #expect(wide.weightDType == .f32)

        let reference = try SAEFixtures.reference("bf16-expansion")
        let x = try reference.floats("x")
        let rows = x.count / sae.dIn
        let latents = sae.encode(x, rows: rows)
        #expect(latents == wide.encode(x, rows: rows))

        // For the record: sparsify computing in bf16 itself picks different sets on some rows.
        let native = try reference.int32s("native_indices")
        let sameSets = (0..<rows).filter { r in
            Set(latents.indices[(r * sae.k)..<((r + 1) * sae.k)]) == Set(native[(r * sae.k)..<((r + 1) * sae.k)])
        }.count
        print("SAE bf16: \(sameSets)/\(rows) rows have the same top-k set as sparsify computing in bf16 arithmetic")
    }
}
