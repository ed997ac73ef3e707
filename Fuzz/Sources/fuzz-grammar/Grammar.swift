import Experiment
import FuzzSupport
import GSM8K
import ResultBundle

/// The command-line grammars on arbitrary text: `ProblemSelection.parse` (`--problems`) with
/// `indices(splitCount:)` and seeded samples, and `HookpointSpec.parseList` (`--hookpoints`).
/// Invariants: no crash; selected indices lie inside the split, each once; a sample of n is
/// n of the selected indices in order; parsing is idempotent (a selection's text and a
/// hookpoint list's names parse to the same values); a hookpoint name that
/// `BundleLayout.checkHookpointName` lets through is a safe file name and CSV field (no '/',
/// ',', NUL or line break byte, no leading '.').
private let splitCounts = [0, 1, 3, 1319, 7473]

@main struct FuzzGrammar {
    static func main() { runFuzzer(fuzzGrammar) }
}

func fuzzGrammar(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    selection(text)
    hookpoints(text)
    return 0
}

private func selection(_ text: String) {
    guard let selection = try? ProblemSelection.parse(text) else { return }
    check((try? ProblemSelection.parse(selection.text)) == selection, "'\(text)' parses, its text '\(selection.text)' parses differently")
    for count in splitCounts {
        guard let chosen = try? selection.indices(splitCount: count) else { continue }
        check(chosen.allSatisfy { (0..<count).contains($0) }, "'\(text)' in a split of \(count) selects \(chosen.filter { !(0..<count).contains($0) }.prefix(5))")
        check(Set(chosen).count == chosen.count, "'\(text)' in a split of \(count) selects an index twice")
        for n in Set([0, 1, chosen.count / 2, chosen.count]) where n <= chosen.count {
            let seed = UInt64(truncatingIfNeeded: text.utf8.count &* 2654435761)
            guard let sample = try? selection.sampling(n, seed: seed).indices(splitCount: count) else {
                fail("'\(text)': a sample of \(n) of the \(chosen.count) selected problems is refused")
            }
            check(sample.count == n && sample == sample.sorted() && Set(sample).isSubset(of: chosen),
                  "'\(text)': a sample of \(n) is \(sample.prefix(8)), not \(n) selected indices in order")
        }
        check((try? selection.sampling(chosen.count + 1, seed: 0).indices(splitCount: count)) == nil,
              "'\(text)': a sample larger than the selection is accepted")
    }
}

private func hookpoints(_ text: String) {
    guard let specs = try? HookpointSpec.parseList(text) else { return }
    check(!specs.isEmpty && specs.allSatisfy { !$0.capture.isEmpty && !$0.sae.isEmpty },
          "'\(text)' parses to an empty hookpoint or capture")
    for spec in specs where (try? BundleLayout.checkHookpointName(spec.name)) != nil {
        let bytes = Array(spec.name.utf8)
        let unsafe = bytes.first == UInt8(ascii: ".") || bytes.contains { [0, 0x0a, 0x0d, UInt8(ascii: "/"), UInt8(ascii: ",")].contains($0) }
        check(!unsafe, "hookpoint name \(spec.name.debugDescription) passes checkHookpointName but is no safe file name")
    }
    let names = specs.map(\.name).joined(separator: ",")
    let again = try? HookpointSpec.parseList(names)
    check(again == specs, "'\(text)' parses to \(specs), whose names '\(names)' parse to \(again.map { "\($0)" } ?? "an error")")
}
