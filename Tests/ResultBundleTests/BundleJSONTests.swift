import Foundation
import Testing
@testable import ResultBundle

/// The JSON text the bundle writes must be the same bytes for the same values.
@Suite struct BundleJSONTests {
    @Test func serializationSortsKeysAndUsesShortestRoundTripNumbers() throws {
        let value: JSONValue = .object(["b": .double(0.1), "a": .array([.int(-3), .double(1e-6), .double(2), .null, .bool(true)]), "é": .string("x\"\n\u{1}")])
        #expect(value.serialized() == #"{"a":[-3,1e-06,2.0,null,true],"b":0.1,"é":"x\"\n\u0001"}"#)
    }

    @Test func parsingThenWritingIsStable() throws {
        let text = #"{"z": [1, 2.50, -0.0, 1E3], "s": "tab\t \u00e9 \ud83d\ude00 \/", "n": null, "o": {}}"#
        let parsed = try JSONValue.parse(text, source: "test")
        let written = parsed.serialized()
        #expect(written == #"{"n":null,"o":{},"s":"tab\t é 😀 /","z":[1,2.5,-0.0,1000.0]}"#)
        #expect(try JSONValue.parse(written, source: "again") == parsed)
    }

    @Test func malformedJSONIsRefusedWithItsSourceAndOffset() {
        #expect {
            _ = try JSONValue.parse(#"{"a": [1, 2}"#, source: "manifest.json")
        } throws: { error in
            "\(error)" == "manifest.json: invalid JSON at byte 11: expected ',' or ']'"
        }
    }

    @Test func problemSelectionsCompressToCanonicalRanges() {
        let ids = ["gsm8k:train:3", "gsm8k:test:0", "gsm8k:train:0", "gsm8k:train:1", "gsm8k:train:2", "gsm8k:train:7", "odd"]
        let ranges = ProblemIDRanges.ranges(of: ids)
        #expect(ranges == ["gsm8k:test[0:1]", "gsm8k:train[0:4]", "gsm8k:train[7:8]", "odd"])
        #expect(Set(ranges.flatMap(ProblemIDRanges.expand)) == Set(ids))
    }
}
