import FuzzSupport
import TestSupport
import Tokenizer

/// `BPETokenizer.load` on an arbitrary tokenizer.json, then encoding and decoding a few texts
/// with what loaded. Invariants: no crash; every id encode gives is below the vocabulary size
/// and decodes; ids and token strings map back to each other.
private let samples = [
    "", "Natalia sold clips to 48 of her friends in April.", "  héllo\u{301} wörld\n\n\t42,000 ＡＢＣ 🙂",
    "<｜User｜>What is 2 + 2?<｜Assistant｜><think>\n4</think>", String(repeating: "=", count: 80), "\u{FFFD}\u{0}\r\n",
]

@main struct FuzzTokenizer {
    static func main() { runFuzzer(fuzzTokenizer, seeds: { ["r1-byte-level.json": Array(R1TokenizerFixture.json().utf8)] }) }
}

func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let path = ScratchFile.write(bytes, name: "tokenizer.json")
    guard let tokenizer = try? BPETokenizer.load(modelDirectoryOrFile: path) else { return 0 }
    // The input's own first bytes as text too: mutations that load reach words the samples lack.
    let own = String(decoding: bytes.prefix(96), as: UTF8.self)
    for text in samples + [own] {
        for ids in [tokenizer.encode(text), tokenizer.encode(text, addSpecialTokens: true)] {
            for id in ids {
                check(id >= 0 && Int(id) < tokenizer.vocabularySize, "encode gives id \(id), vocabulary size \(tokenizer.vocabularySize)")
            }
            _ = tokenizer.decode(ids)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
    }
    for id in Int32(-1)...Int32(min(tokenizer.vocabularySize, 300)) {
        if let token = tokenizer.tokenString(for: id) {
            check(tokenizer.id(forToken: token) != nil, "token \(id) '\(token)' has no id")
        }
    }
    return 0
}
