import Foundation
import Testing
import TestSupport

/// `thinklens run --intervene`: the baseline bundle as a plain run writes it, one complete bundle
/// per condition under interventions/, and refusals of bad edits before any work.
@Suite(.serialized, .enabled(if: TestEnvironment.available(TestEnvironment.gsm8kVariable),
                             "needs THINKLENS_GSM8K_DIR (scripts/test sets it; fails in CI when missing)"))
struct InterventionRunTests {
    typealias D = DistributedRunTests
    let scratch = TemporaryDirectory("intervention-run")

    static func run(_ out: String, _ extra: [String], workers: Int = 2) throws -> ThinkLensProcess {
        let process = try ThinkLensProcess(["run", "--workers", String(workers), "--threads", "1", "--batch", "2"] + D.settings(out: out) + extra,
                                           name: "intervene")
        process.wait(timeout: 180)
        return process
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func theBaselineIsThePlainRunsBundleAndEachConditionGetsABundleOfItsOwn() throws {
        let reference = try D.reference()
        let out = scratch.file("conditions")
        let run = try Self.run(out, ["--intervene", "same=layers.1.mlp:5:scale=1", "--intervene", "sweep=layers.2.mlp:7:clamp={0,3}"])
        #expect(run.process.terminationStatus == 0, "\(run.log)")
        let baseline = D.bundleFiles(out).filter { !$0.hasPrefix("interventions/") }
        #expect(baseline == D.bundleFiles(reference))
        for file in baseline {
            #expect(FileManager.default.contents(atPath: out + "/" + file) == FileManager.default.contents(atPath: reference + "/" + file),
                    "\(file) differs from the plain run's")
        }
        let conditions = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/interventions/conditions.json"))) as? [String: Any]
        let names = (conditions?["conditions"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["same", "sweep@0", "sweep@3"])
        for name in names ?? [] {
            let dir = out + "/interventions/" + name
            #expect(FileManager.default.fileExists(atPath: dir + "/manifest.json") && FileManager.default.fileExists(atPath: dir + "/latents/layers.1.mlp.safetensors"))
            #expect(Self.text(dir + "/manifest.json").contains("\"intervention\""))
        }
        // The paired tables: scale=1 gives every problem's output unchanged.
        let summary = Self.text(out + "/interventions/summary.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(summary.first?.prefix(10).joined(separator: ",") == "condition,problems,accuracy,baseline_accuracy,delta_accuracy,delta_accuracy_lo,delta_accuracy_hi,mcnemar_p,answers_changed,identical_outputs")
        let same = summary.first { $0.first == "same" }
        #expect(same?[1] == "4" && same?[9] == "4" && same?[8] == "0", "\(summary)")
        #expect(Self.text(out + "/interventions/pairs.csv").split(separator: "\n").count == 1 + 3 * 4)
        // scale=1 leaves every activation as it was: the condition is the baseline, bit for bit.
        for file in ["inferences.jsonl", "latents/layers.1.mlp.safetensors", "latents/layers.2.mlp.safetensors", "tables/layers.2.mlp/features.csv"] {
            #expect(FileManager.default.contents(atPath: out + "/interventions/same/" + file) == FileManager.default.contents(atPath: reference + "/" + file),
                    "interventions/same/\(file) differs from the baseline's")
        }
    }

    @Test func conditionsWithoutLatentsKeepTheirGenerationsOnly() throws {
        let out = scratch.file("no-latents")
        let run = try Self.run(out, ["--intervene", "off=layers.1.mlp:5:ablate@generated", "--intervention-latents", "none"])
        #expect(run.process.terminationStatus == 0, "\(run.log)")
        let dir = out + "/interventions/off"
        #expect(Self.text(dir + "/inferences.jsonl").split(separator: "\n").count == 4)
        #expect(!FileManager.default.fileExists(atPath: dir + "/latents/layers.1.mlp.safetensors"))
    }

    @Test(arguments: [
        (["--intervene", "x=layers.9.mlp:1:ablate"], "layers.9.mlp"),
        (["--intervene", "x=layers.1.mlp:256:ablate"], "past the last latent 255"),
        (["--intervene", "x=layers.0.mlp:1:ablate"], "no SAE for layers.0.mlp"),
        (["--intervene", "x=layers.1.mlp:1:clamp=nan"], "finite"),
        (["--intervene", "x=layers.1.mlp:1:ablate", "--intervene", "x=layers.2.mlp:1:ablate"], "used twice"),
        (["--intervention-latents", "none"], "only with --intervene"),
    ])
    func aBadInterventionIsRefusedBeforeAnyWork(extra: [String], reason: String) throws {
        let out = scratch.file("refused-\(abs(extra.joined().hashValue))")
        let run = try Self.run(out, extra, workers: 1)
        #expect(run.process.terminationStatus != 0)
        #expect(run.log.contains(reason), "\(run.log)")
        #expect(!FileManager.default.fileExists(atPath: out + "/journal"), "nothing was started")
    }

    @Test func aResumeWithOtherConditionsIsRefused() throws {
        let out = scratch.file("resume")
        let first = try Self.run(out, ["--intervene", "a=layers.1.mlp:5:ablate"], workers: 1)
        #expect(first.process.terminationStatus == 0, "\(first.log)")
        let second = try Self.run(out, ["--intervene", "b=layers.1.mlp:5:ablate"], workers: 1)
        #expect(second.process.terminationStatus != 0)
        #expect(second.log.contains("--intervene conditions"), "\(second.log)")
    }

    @Test func mergingTwoHalfRunsWithTheSameConditionsGivesTheFullRun() throws {
        let conditions = ["--intervene", "same=layers.1.mlp:5:scale=1", "--intervene", "off=layers.2.mlp:7:ablate"]
        let full = scratch.file("full")
        #expect(try Self.run(full, conditions).process.terminationStatus == 0)
        var halves: [String] = []
        for (i, slice) in ["gsm8k:train[0:2]", "gsm8k:train[2:4]"].enumerated() {
            let out = scratch.file("half-\(i)")
            let run = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"] + D.settings(out: out, problems: slice) + conditions, name: "half")
            #expect(run.wait() == 0, "\(run.log)")
            halves.append(out)
        }
        let merged = scratch.file("merged")
        let merge = try ThinkLensProcess(["merge"] + halves + ["--out", merged], name: "merge")
        #expect(merge.wait() == 0, "\(merge.log)")
        // run-settings.json of each condition is the merge's, as at the top (see docs/bundle.md).
        let files = D.bundleFiles(full).filter { !$0.hasSuffix("run.json") && !$0.hasSuffix("run-settings.json") && !$0.contains("/journal/") }
        #expect(files.contains("interventions/off/inferences.jsonl") && files.contains("interventions/conditions.json"))
        #expect(D.bundleFiles(merged).filter { !$0.hasSuffix("run.json") && !$0.hasSuffix("run-settings.json") && !$0.contains("/journal/") } == files)
        for file in files {
            #expect(FileManager.default.contents(atPath: merged + "/" + file) == FileManager.default.contents(atPath: full + "/" + file), "\(file) differs")
        }
    }

    @Test func runsWithDifferentConditionsDoNotMerge() throws {
        var halves: [String] = []
        for (i, condition) in ["a=layers.1.mlp:5:ablate", "a=layers.1.mlp:6:ablate"].enumerated() {
            let out = scratch.file("other-\(i)")
            let run = try ThinkLensProcess(["run", "--workers", "1", "--threads", "1", "--batch", "2"]
                                           + D.settings(out: out, problems: "gsm8k:train[\(i):\(i + 1)]") + ["--intervene", condition], name: "other")
            #expect(run.wait() == 0, "\(run.log)")
            halves.append(out)
        }
        let merge = try ThinkLensProcess(["merge"] + halves + ["--out", scratch.file("refused")], name: "merge")
        #expect(merge.wait() != 0)
        #expect(merge.log.contains("different --intervene conditions"), "\(merge.log)")
    }

    /// Leases, restarts and several workers change nothing: a run with conditions whose
    /// coordinator is killed mid-run and restarted, with three workers, ends in the same bundles
    /// as an undisturbed single-worker run.
    @Test func aRestartedCoordinatorWithThreeWorkersEndsInTheSameBundlesAsOneUndisturbedWorker() throws {
        let conditions = ["--intervene", "off=layers.2.mlp:7:ablate", "--intervene", "up=layers.1.mlp:3:add=2@generated"]
        let clean = scratch.file("clean")
        #expect(try Self.run(clean, conditions, workers: 1).process.terminationStatus == 0)
        let out = scratch.file("restarted")
        let (first, endpoint) = try D.coordinator(out: out, extra: conditions)
        let workers = try (1...3).map { try ThinkLensProcess(D.workerArguments(endpoint, id: "w\($0)", delay: 0.02, batch: 1), name: "w\($0)") }
        #expect(D.waitForFirstCommit(out, by: first), "a worker committed a problem:\n\(first.log)")
        first.kill9()
        let (second, _) = try D.coordinator(out: out, extra: conditions, listen: endpoint)
        #expect(second.wait() == 0, "\(second.log)")
        for worker in workers { worker.wait(timeout: 30) }
        let files = D.bundleFiles(clean).filter { !$0.hasSuffix("run.json") && !$0.contains("journal/") }
        #expect(files.contains("interventions/up/inferences.jsonl"))
        #expect(D.bundleFiles(out).filter { !$0.hasSuffix("run.json") && !$0.contains("journal/") } == files)
        for file in files {
            #expect(FileManager.default.contents(atPath: out + "/" + file) == FileManager.default.contents(atPath: clean + "/" + file), "\(file) differs")
        }
    }
}
