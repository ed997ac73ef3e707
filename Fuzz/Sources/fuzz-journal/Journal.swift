import Experiment
import Foundation
import FuzzSupport
import ResultBundle

/// `TaskJournal(directory:)` on arbitrary bytes as `tasks.tlj`: what a coordinator restarted on
/// a damaged `--out` meets. Invariants: no crash or over-read (ASan); the journal either opens or
/// is refused with a `RunDataError`; once open, every indexed problem either reads back with the
/// id its index names or is refused with a `RunDataError` naming its record (opening checks each
/// record's checksum and index fields, not its columns: a record whose bytes match their checksum
/// but not the format, which only a crafted file has, is found when the bundle reads it), and the
/// file is left no longer than it was (a torn tail is truncated, never extended).
@main struct FuzzJournal {
    static func main() { runFuzzer(fuzzJournal, seeds: seeds) }
}

func fuzzJournal(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = ScratchFile.write(UnsafeRawBufferPointer(start: data, count: size), name: TaskJournal.fileName)
    let directory = (path as NSString).deletingLastPathComponent
    let journal: TaskJournal
    do {
        journal = try TaskJournal(directory: directory)
    } catch is RunDataError {
        return 0
    } catch {
        fail("opening refused with something other than a RunDataError: \(error)")
    }
    defer { journal.close() }
    for entry in journal.entries {
        let task: CommittedTask
        do {
            task = try journal.readTask(entry)
        } catch let error as RunDataError {
            check("\(error)".contains(entry.id), "reading \(entry.id) back was refused without naming it: \(error)")
            continue
        } catch {
            fail("reading \(entry.id) back failed with something other than a RunDataError: \(error)")
        }
        check(task.record.id == entry.id, "entry \(entry.id) reads back as \(task.record.id)")
    }
    check(Set(journal.entries.map(\.id)).count == journal.entries.count, "a problem is indexed twice")
    let after = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
    check(after <= max(size, 16), "the journal grew from \(size) to \(after) bytes on opening")
    return 0
}

/// Journals as the coordinator writes them: tasks (16-bit and wider latent ids), a failure,
/// cross-check records and a replaced result.
private func seeds() -> [String: [UInt8]] {
    func task(_ index: Int, wide: Bool = false, nudge: Bool = false) -> CommittedTask {
        let record = ProblemRecord(id: "gsm8k:train:\(index)", split: "train", index: index, question: "q\(index)", gold: "\(index)",
                                   promptIDs: [1, 2, 3], generatedIDs: [4, 5], text: "t", stop: .eos, answer: "\(index)",
                                   verdict: .correct, thinkEnd: nil)
        let activation: Float = nudge ? Float(1.5).nextUp : 1.5
        let rows = LatentRows(k: 2, positions: [3, 4], tokens: [4, 5], indices: wide ? [70_000, 3, 9, 1] : [7, 3, 9, 1],
                              activations: [2, activation, 1, 0.5], record: record)
        return CommittedTask(record: record, latents: ["layers.5.mlp": rows], fvu: ["layers.5.mlp": 0.25])
    }
    func journal(_ write: (TaskJournal) throws -> Void) -> [UInt8] {
        let directory = NSTemporaryDirectory() + "thinklens-fuzz-seed-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let j = try TaskJournal(directory: directory)
            try write(j)
            j.close()
            return Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + TaskJournal.fileName)))
        } catch {
            fail("making a seed journal failed: \(error)")
        }
    }
    return [
        "empty": journal { _ in },
        "tasks": journal { j in for i in 0..<3 { try j.append(task(i, wide: i == 2)) } },
        "failure": journal { j in
            try j.append(task(0))
            try j.appendFailure(.init(id: "gsm8k:train:1", split: "train", index: 1, reasons: ["attempt 1: boom", "attempt 2: again"]))
        },
        "cross-checks": journal { j in
            try j.append(task(0, nudge: true))
            try j.appendVerification(VerificationRecord(problem: "gsm8k:train:0", event: .mismatch, workers: ["a@h", "b@h"]))
            try j.replace(contentsOf: [task(0)])
            try j.appendVerification(VerificationRecord(problem: "gsm8k:train:0", event: .resolved, workers: ["a@h", "b@h", "c@h"], oddWorker: "a@h"))
        },
    ]
}
