import Foundation
import GSM8K
import Testing
import TestSupport

/// ThinkLens's LaTeX checker against Hugging Face's math-verify on the committed table of
/// (gold, response) pairs that scripts/make-math-verify-pairs labelled with math-verify.
@Suite struct MathVerifyAgreementTests {
    struct Pair: Decodable {
        var gold: String
        var response: String
        var math_verify: Bool
    }

    struct AllowedDisagreement: Decodable {
        var gold: String
        var response: String
        var reason: String
    }

    static func readJSONL<Row: Decodable>(_ name: String, as: Row.Type) throws -> [Row] {
        let url = TestEnvironment.fixtures("grading").appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    static func disagreements(in pairs: [Pair]) -> [Pair] {
        pairs.filter { pair in
            let ours = AnswerChecker.verdict(modelOutput: pair.response, writtenGold: pair.gold).verdict == .correct
            return ours != pair.math_verify
        }
    }

    @Test func theTableHasAtLeast500PairsOfBothKinds() throws {
        let pairs = try Self.readJSONL("math_verify_pairs.jsonl", as: Pair.self)
        #expect(pairs.count >= 500)
        #expect(pairs.contains { $0.math_verify } && pairs.contains { !$0.math_verify })
    }

    @Test func agreesWithMathVerifyOnAtLeast98PercentOfPairs() throws {
        let pairs = try Self.readJSONL("math_verify_pairs.jsonl", as: Pair.self)
        let disagreeing = Self.disagreements(in: pairs).count
        let agreement = Double(pairs.count - disagreeing) / Double(pairs.count)
        #expect(agreement >= 0.98, "agreement \(pairs.count - disagreeing)/\(pairs.count) = \(agreement)")
    }

    @Test func everyDisagreementIsAllowedWithAReason() throws {
        let pairs = try Self.readJSONL("math_verify_pairs.jsonl", as: Pair.self)
        let allowed = try Self.readJSONL("math_verify_disagreements.jsonl", as: AllowedDisagreement.self)
        let allowedKeys = Set(allowed.map { [$0.gold, $0.response] })
        for pair in Self.disagreements(in: pairs) {
            #expect(allowedKeys.contains([pair.gold, pair.response]),
                    "not in math_verify_disagreements.jsonl: gold \(pair.gold) response \(pair.response) (math-verify says \(pair.math_verify))")
        }
        #expect(allowed.allSatisfy { !$0.reason.isEmpty })
    }

    @Test func everyAllowedDisagreementStillDisagrees() throws {
        let pairs = try Self.readJSONL("math_verify_pairs.jsonl", as: Pair.self)
        let allowed = try Self.readJSONL("math_verify_disagreements.jsonl", as: AllowedDisagreement.self)
        let disagreeing = Set(Self.disagreements(in: pairs).map { [$0.gold, $0.response] })
        for entry in allowed {
            #expect(disagreeing.contains([entry.gold, entry.response]),
                    "allowed but no longer a disagreement (remove it): gold \(entry.gold) response \(entry.response)")
        }
    }
}
