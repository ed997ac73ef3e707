import Platform
import Experiment
import ResultBundle
import ArgumentParser
import Coordinator
import Foundation

/// `thinklens bench ingest`: the coordinator's data path on one core. Pre-made committed
/// tasks (k latents per row over a Zipf-like distribution of feature ids) go through
/// `RunStore.commit` — validation, journal encoding, checksum, write, fdatasync, live
/// counts — and the rate and resident memory are reported as the journal grows.
struct BenchIngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "Benchmark: coordinator ingest (journal + live accumulation).")

    @Option(help: "Latent rows (one position of one hookpoint) at which to report, comma-separated; the run stops at the largest.")
    var checkpoints: String = "1000000,3000000,10000000"

    @Option(help: "Tasks per fsync (1: every task flushed before its acknowledgement; more: group commit).")
    var batch: Int = 1

    @Option(help: "Generated tokens per problem.")
    var tokensPerProblem: Int = 400

    @Option(help: "Hookpoints per problem.")
    var hookpoints: Int = 3

    @Option(help: "Latents kept per position.")
    var k: Int = 32

    @Option(help: "SAE width (feature ids are drawn from 0..<latents).")
    var latents: Int = 65_536

    @Option(help: "Directory for the journal (a fresh subdirectory is made and deleted afterwards).")
    var dir: String = NSTemporaryDirectory()

    @Flag(help: "Also write the bundle from the journal at the end and report its time.")
    var finalize = false

    @Flag(help: "Keep the run directory (journal and bundle) instead of deleting it.")
    var keep = false

    func run() throws {
        StandardOutput.makeLineBuffered()
        let marks = checkpoints.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.sorted()
        guard let last = marks.last, last > 0 else { throw ValidationError("--checkpoints needs positive row counts, e.g. 1000000,10000000") }
        guard batch >= 1, tokensPerProblem >= 1, hookpoints >= 1, k >= 1, latents >= k else {
            throw ValidationError("--batch, --tokens-per-problem, --hookpoints and --k must be positive and --latents at least k")
        }
        let names = (0..<hookpoints).map { "layers.\(5 * ($0 + 1)).mlp" }
        let pool = SyntheticTasks(names: names, tokens: tokensPerProblem, k: k, latents: latents, distinct: 16)
        let rowsPerTask = tokensPerProblem * hookpoints
        let out = (dir as NSString).appendingPathComponent("thinklens-bench-ingest-\(getpid())")
        defer {
            if keep { print("kept: \(out)") } else { try? FileManager.default.removeItem(atPath: out) }
        }
        let store = try RunStore(outDirectory: out)

        print("ingest: k=\(k), \(latents) latents, \(hookpoints) hookpoints, \(tokensPerProblem) tokens/problem (\(rowsPerTask) rows/task), fsync every \(batch) task(s), journal in \(dir)")
        print("rows/s: wall clock; rows/CPU-s: rows per second of this process's CPU time (user + system), i.e. one core's capacity")
        print("rows        rows/s (wall)   rows/CPU-s   rows/s (since last)   journal GB   RSS MiB   peak RSS MiB")
        var rows = 0
        var next = 0
        var markIndex = 0
        let start = Date()
        let startCPU = ProcessStatus.cpuSeconds()
        var lastTime = start
        var lastRows = 0
        var batchTasks: [CommittedTask] = []
        while rows < last {
            batchTasks.removeAll(keepingCapacity: true)
            for _ in 0..<batch {
                batchTasks.append(pool.task(number: next))
                next += 1
            }
            let outcomes = try store.commit(batchTasks)
            for outcome in outcomes where outcome != .committed {
                throw ValidationError("synthetic task was not committed: \(outcome)")
            }
            rows += rowsPerTask * batch
            while markIndex < marks.count, rows >= marks[markIndex] {
                let now = Date()
                let total = now.timeIntervalSince(start), since = now.timeIntervalSince(lastTime)
                let journalBytes = (try? FileManager.default.attributesOfItem(atPath: store.journal.path)[.size] as? Int) ?? 0
                let memory = ProcessStatus.current()
                let cpu = ProcessStatus.cpuSeconds() - startCPU
                print(String(format: "%-11d %-15.0f %-12.0f %-21.0f %-12.2f %-9.0f %.0f", rows, Double(rows) / total, Double(rows) / cpu, Double(rows - lastRows) / since,
                             Double(journalBytes) / 1e9, Double(memory.resident) / 1_048_576, Double(memory.peakResident) / 1_048_576))
                lastTime = now
                lastRows = rows
                markIndex += 1
            }
        }
        if finalize {
            let t0 = Date()
            let cpu0 = ProcessStatus.cpuSeconds()
            let manifest = RunManifest(thinklensVersion: "bench", model: .init(config: .object([:]), fingerprint: "bench"),
                                       tokenizerFingerprint: "bench", saes: [:], generation: .object([:]), promptFormat: .null,
                                       selectedProblemIDs: [], hookpoints: names, failed: [])
            try store.writeBundle(manifest: manifest, run: .null, decoder: SyntheticTasks.Decoder())
            let seconds = Date().timeIntervalSince(t0)
            let cpu = ProcessStatus.cpuSeconds() - cpu0
            print(String(format: "bundle written from the journal: %d rows in %.1f s wall (%.0f rows/s), %.1f CPU-s on all cores (%.0f rows/CPU-s), peak RSS %.0f MiB",
                         rows, seconds, Double(rows) / seconds, cpu, Double(rows) / cpu, Double(ProcessStatus.current().peakResident) / 1_048_576))
        }
    }
}

/// A few distinct synthetic tasks, reused under new problem ids so that generating data
/// costs nothing during the measurement.
struct SyntheticTasks {
    let templates: [CommittedTask]

    struct Decoder: TokenTextDecoding {
        func tokenText(_ id: Int32) -> String { "tok\(id)" }
    }

    init(names: [String], tokens: Int, k: Int, latents: Int, distinct: Int) {
        var g = SplitMix64(seed: 1)
        // Zipf-like popularity: rank r has weight 1/(r + 10), ranks shuffled over feature ids.
        var cdf = [Double](repeating: 0, count: latents)
        var total = 0.0
        for r in 0..<latents {
            total += 1 / Double(r + 10)
            cdf[r] = total
        }
        var featureOfRank = (0..<latents).map { Int32($0) }
        for i in stride(from: latents - 1, to: 0, by: -1) { featureOfRank.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        func drawFeature() -> Int32 {
            let u = Double(g.next() >> 11) / Double(1 << 53) * total
            var lo = 0, hi = latents - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
            }
            return featureOfRank[lo]
        }
        var templates: [CommittedTask] = []
        for t in 0..<distinct {
            let prompt: [Int32] = (0..<60).map { _ in Int32(g.next() % 150_000) }
            let generated: [Int32] = (0..<tokens).map { _ in Int32(g.next() % 150_000) }
            let record = ProblemRecord(id: "bench:train:\(t)", split: "train", index: t, question: "synthetic", gold: "1",
                                       promptIDs: prompt, generatedIDs: generated, text: "synthetic", stop: .length,
                                       answer: nil, verdict: .none, thinkEnd: prompt.count + tokens * 3 / 4)
            let positions = (prompt.count..<(prompt.count + tokens)).map { Int32($0) }
            var latentsByName: [String: LatentRows] = [:]
            for name in names {
                var indices: [Int32] = []
                var acts: [Float] = []
                indices.reserveCapacity(tokens * k)
                acts.reserveCapacity(tokens * k)
                for _ in 0..<tokens {
                    // An array, not a Set: the row must be the same in every process.
                    var row: [Int32] = []
                    while row.count < k {
                        let f = drawFeature()
                        if !row.contains(f) { row.append(f) }
                    }
                    indices += row
                    var values = (0..<k).map { _ in Float(g.next() % 100_000) / 1000 + 0.001 }
                    values.sort(by: >)
                    acts += values
                }
                latentsByName[name] = LatentRows(k: k, positions: positions, tokens: positions.map { record.token(at: Int($0)) },
                                                 indices: indices, activations: acts, record: record)
            }
            templates.append(CommittedTask(record: record, latents: latentsByName, fvu: Dictionary(uniqueKeysWithValues: names.map { ($0, 0.1) })))
        }
        self.templates = templates
    }

    func task(number: Int) -> CommittedTask {
        var task = templates[number % templates.count]
        task.record.id = "bench:train:\(number)"
        task.record.index = number
        return task
    }

}
