import Testing
@testable import Tokenizer

@Suite struct LossyUTF8Tests {
    /// The example of Unicode's "U+FFFD substitution of maximal subparts" (Table 3-8).
    @Test func replacesEachMaximalSubpartOnce() {
        let bytes: [UInt8] = [0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64]
        #expect(LossyUTF8.decode(bytes) == "a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}d")
    }

    @Test func surrogatesAndOverlongFormsAreInvalid() {
        #expect(LossyUTF8.decode([0xED, 0xA0, 0x80]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
        #expect(LossyUTF8.decode([0xC0, 0xAF]) == "\u{FFFD}\u{FFFD}")
        #expect(LossyUTF8.decode([0xF0, 0x9F, 0x98, 0x80]) == "😀")
    }

    @Test func incompleteTailIsHeldBackUnlessFinal() {
        let bytes: [UInt8] = [0x61, 0xF0, 0x9F, 0x98]
        let partial = bytes.withUnsafeBufferPointer { LossyUTF8.decode($0, final: false) }
        #expect(partial.text == "a")
        #expect(partial.pending == 3)
        #expect(LossyUTF8.decode(bytes) == "a\u{FFFD}")
    }
}

@Suite struct SHA256Tests {
    @Test func knownDigests() {
        #expect(SHA256.hex("".utf8) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
