import Foundation
import Testing
@testable import Tokenizer

@Suite struct NFCTests {
    @Test func composesCombiningMarksAndHangul() {
        #expect(NFC.normalize("e\u{301}") == "\u{e9}")
        #expect(NFC.normalize("\u{ac00}\u{11a8}") == "\u{ac01}")
        #expect(NFC.normalize("\u{1100}\u{1161}\u{11a8}") == "\u{ac01}")
        #expect(NFC.normalize("A\u{30a}") == "\u{c5}")
    }

    @Test func keepsWhatNFCKeeps() {
        #expect(NFC.normalize("\u{feff}bom").unicodeScalars.first == "\u{feff}")
        #expect(NFC.normalize("\u{1e9b}\u{323}").unicodeScalars.map(\.value) == [0x1E9B, 0x323])
        #expect(NFC.normalize("ﬁ Ω") == "ﬁ Ω")  // compatibility forms are not NFC's business
    }

    /// Hugging Face's NFC has Unicode 9.0 data: U+1DF6 (Unicode 10, class 232) is a starter
    /// to it, so nothing moves across it (observed with tokenizers 0.23.3).
    @Test func charactersNewerThanUnicode9StayPut() {
        #expect(NFC.normalize("x\u{1df6}\u{323}").unicodeScalars.map(\.value) == [0x78, 0x1DF6, 0x323])
        #expect(NFC.normalize("e\u{1df6}\u{301}").unicodeScalars.map(\.value) == [0x65, 0x1DF6, 0x301])
    }

    @Test func reordersMarksByCombiningClass() {
        #expect(NFC.normalize("q\u{307}\u{323}").unicodeScalars.map(\.value) == [0x71, 0x323, 0x307])
    }
}

@Suite struct ConcurrentEncodingTests {
    @Test func encodeFromManyThreadsGivesTheSameIDs() throws {
        let tokenizer = try BPETokenizer(tokenizerJSON: TokenizerFixtures.fixture("tiny-tokenizer-string-merges.json"))
        let texts = (0..<64).map { "hello world the hello \($0) it'S wow" }
        let expected = texts.map { tokenizer.encode($0) }
        // Each iteration writes its own slot, so the buffer is shared without a lock.
        struct Slots: @unchecked Sendable { let buffer: UnsafeMutableBufferPointer<[Int32]> }
        let slots = Slots(buffer: .allocate(capacity: texts.count * 8))
        let results = slots.buffer
        results.initialize(repeating: [])
        defer {
            results.deinitialize()
            results.deallocate()
        }
        DispatchQueue.concurrentPerform(iterations: texts.count * 8) { k in
            slots.buffer[k] = tokenizer.encode(texts[k % texts.count])
        }
        for k in 0..<(texts.count * 8) { #expect(results[k] == expected[k % texts.count]) }
    }
}
