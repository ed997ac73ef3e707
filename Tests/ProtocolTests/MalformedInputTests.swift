import Protocol
import Testing

/// One bad input and the exact error decoding it must give.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let limits: DecodingLimits
    let expected: ProtocolError

    init(_ name: String, _ bytes: [UInt8], limits: DecodingLimits = .default, _ expected: ProtocolError) {
        self.name = name
        self.bytes = bytes
        self.limits = limits
        self.expected = expected
    }

    var testDescription: String { name }
}

let chunk = validChunkFields()
let assign = validAssignFields()
let validChunkBytes = chunk.encoded

let malformedCorpus: [MalformedCase] = [
    // Envelope
    MalformedCase("empty input", [], .truncated(field: "message")),
    MalformedCase("unknown version", chunk.replacing("v", with: .uint(UInt64(ThinkLensVersion.wireProtocol + 1))).encoded,
                  .unsupportedVersion(found: ThinkLensVersion.wireProtocol + 1, supported: ThinkLensVersion.wireProtocol)),
    MalformedCase("version missing", chunk.removing("v").encoded, .missingField("version")),
    MalformedCase("version mistyped", chunk.replacing("v", with: .str("1")).encoded,
                  .mistypedField("version", expected: "uint", found: "str")),
    MalformedCase("unknown type", chunk.replacing("t", with: .str("bogus")).encoded, .unknownType("bogus")),
    MalformedCase("type missing", chunk.removing("t").encoded, .missingField("type")),
    MalformedCase("top level is an array", MsgPackValue.array([.uint(1), .str("chunk")]).bytes,
                  .notAMap(found: "array")),
    MalformedCase("top level is a string", MsgPackValue.str("hello").bytes, .notAMap(found: "str")),
    MalformedCase("top level is nil", [0xc0], .notAMap(found: "nil")),

    // Fields
    MalformedCase("missing field", chunk.removing("ix").encoded, .missingField("indices")),
    MalformedCase("missing nested field",
                  assign.replacing("g", with: .map([("mn", .uint(1)), ("te", .float32(0)), ("tp", .float64(1)),
                                                    ("sd", .uint(0))])).encoded,
                  .missingField("generation.topK")),
    MalformedCase("unknown field", (chunk + [("zz", .uint(0))]).encoded, .unknownField("zz")),
    MalformedCase("duplicate field", (chunk + [("id", .uint(43))]).encoded, .duplicateField("taskID")),
    MalformedCase("non-string key", MsgPackValue.raw([0x83, 0xa1, 0x76, UInt8(ThinkLensVersion.wireProtocol), 0xa1, 0x74, 0xa2, 0x68, 0x62, 0x01, 0x01]).bytes,
                  .mistypedField("(key)", expected: "str", found: "uint")),
    MalformedCase("mistyped integer field", chunk.replacing("k", with: .str("2")).encoded,
                  .mistypedField("k", expected: "uint", found: "str")),
    MalformedCase("mistyped blob field", chunk.replacing("ti", with: .array([.uint(100), .uint(200)])).encoded,
                  .mistypedField("tokens", expected: "bin", found: "array")),
    MalformedCase("mistyped float field",
                  assign.replacing("g", with: .map([("mn", .uint(1)), ("te", .uint(0)), ("tp", .float64(1)),
                                                    ("tk", .uint(0)), ("sd", .uint(0))])).encoded,
                  .mistypedField("generation.temperature", expected: "float", found: "uint")),
    MalformedCase("mistyped field in an array element",
                  assign.replacing("hp", with: .array([.map([("c", .uint(5)), ("s", .str("x"))])])).encoded,
                  .mistypedField("hookpoints[0].capture", expected: "str", found: "uint")),
    MalformedCase("negative count", chunk.replacing("fp", with: .int(-3)).encoded,
                  .invalidValue(field: "firstPosition", reason: "-3 is negative")),
    MalformedCase("attempt wider than 32 bits", chunk.replacing("a", with: .uint(1 << 32)).encoded,
                  .invalidValue(field: "attempt", reason: "4294967296 does not fit in 32 bits")),
    MalformedCase("k of zero", chunk.replacing("k", with: .uint(0)).encoded,
                  .invalidValue(field: "k", reason: "k must be at least 1")),
    // Found by scripts/fuzz coordinator: the coordinator staged every empty chunk, without bound.
    MalformedCase("chunk without tokens", chunk.replacing("ti", with: .bin([])).encoded,
                  .invalidValue(field: "tokens", reason: "a chunk carries at least one token")),
    MalformedCase("unknown stop reason",
                  MsgPackValue.map([("v", .uint(UInt64(ThinkLensVersion.wireProtocol))), ("t", .str("done")), ("id", .uint(1)), ("a", .uint(0)),
                                    ("gi", .bin([])), ("sr", .str("timeout")), ("pt", .uint(3)),
                                    ("tm", .map([])), ("fv", .map([]))]).bytes,
                  .invalidValue(field: "stopReason", reason: "'timeout' is neither 'eos' nor 'length'")),
    MalformedCase("string that is not UTF-8", chunk.replacing("hk", with: .raw([0xa2, 0xc3, 0x28])).encoded,
                  .invalidUTF8(field: "hookpoint")),

    // Blobs and shapes
    MalformedCase("indices blob shorter than tokens × k",
                  chunk.replacing("ix", with: .bin(littleEndianBlob([1, 2, 3]))).encoded,
                  .blobLengthMismatch(field: "indices", bytes: 12, expectedBytes: 16)),
    MalformedCase("activations blob longer than tokens × k",
                  chunk.replacing("ac", with: .bin(littleEndianBlob([0, 0, 0, 0, 0]))).encoded,
                  .blobLengthMismatch(field: "activations", bytes: 20, expectedBytes: 16)),
    MalformedCase("k that disagrees with the blobs", chunk.replacing("k", with: .uint(3)).encoded,
                  .blobLengthMismatch(field: "indices", bytes: 16, expectedBytes: 24)),
    MalformedCase("token blob not a multiple of 4 bytes",
                  chunk.replacing("ti", with: .bin([1, 0, 0, 0, 2, 0, 0])).encoded,
                  .blobLengthMismatch(field: "tokens", bytes: 7, expectedBytes: 8)),

    // Bounds
    MalformedCase("array over the collection bound", assign.encoded,
                  limits: DecodingLimits(maxCollectionCount: 1),
                  .overBound(field: "message", count: 9, bound: 1)),
    MalformedCase("hookpoints over the collection bound",
                  assign.replacing("hp", with: .array(Array(repeating: .map([("c", .str("a")), ("s", .str("b"))]),
                                                            count: 12))).encoded,
                  limits: DecodingLimits(maxCollectionCount: 10),
                  .overBound(field: "hookpoints", count: 12, bound: 10)),
    MalformedCase("prompt ids over the token bound", assign.encoded, limits: DecodingLimits(maxTokens: 2),
                  .overBound(field: "promptIDs", count: 3, bound: 2)),
    MalformedCase("k over its bound", chunk.encoded, limits: DecodingLimits(maxLatentsPerToken: 1),
                  .overBound(field: "k", count: 2, bound: 1)),
    MalformedCase("string over its bound", chunk.encoded, limits: DecodingLimits(maxStringBytes: 6),
                  .overBound(field: "hookpoint", count: 12, bound: 6)),
    MalformedCase("more elements in all than the total bound", assign.encoded,
                  limits: DecodingLimits(maxTotalElements: 20),
                  .overBound(field: "generation", count: 28, bound: 20)),
    MalformedCase("message over its size bound", chunk.encoded, limits: DecodingLimits(maxMessageBytes: 16),
                  .messageTooLarge(bytes: chunk.encoded.count, limit: 16)),
    MalformedCase("containers nested too deep",
                  assign.replacing("hp", with: .array([.array([.array([.uint(1)])])])).encoded,
                  .nestingTooDeep(field: "hookpoints", limit: 3)),

    // Truncation, trailing bytes, lying lengths
    MalformedCase("truncated input", Array(validChunkBytes.dropLast()), .truncated(field: "activations")),
    MalformedCase("input cut inside a key", Array(validChunkBytes.prefix(2)), .truncated(field: "message")),
    MalformedCase("trailing bytes", validChunkBytes + [0xc0, 0xc0], .trailingBytes(count: 2)),
    MalformedCase("second message appended", validChunkBytes + validChunkBytes,
                  .trailingBytes(count: validChunkBytes.count)),
    MalformedCase("huge declared map", [0xdf, 0xff, 0xff, 0xff, 0xff],
                  .overBound(field: "message", count: 0xffff_ffff, bound: 1024)),
    MalformedCase("huge declared array within a huge bound",
                  assign.replacing("hp", with: .raw([0xdd, 0xff, 0xff, 0xff, 0xff])).encoded,
                  limits: DecodingLimits(maxCollectionCount: .max, maxTotalElements: .max),
                  .truncated(field: "hookpoints")),
    MalformedCase("huge declared blob", chunk.replacing("ac", with: .raw([0xc6, 0xff, 0xff, 0xff, 0xf0])).encoded,
                  .truncated(field: "activations")),
    MalformedCase("huge declared string", chunk.replacing("hk", with: .raw([0xdb, 0x7f, 0xff, 0xff, 0xff])).encoded,
                  limits: DecodingLimits(maxStringBytes: .max),
                  .truncated(field: "hookpoint")),
    MalformedCase("reserved byte 0xc1", chunk.replacing("k", with: .raw([0xc1])).encoded,
                  .malformed(offset: 54, reason: "byte 0xc1 is never used by msgpack")),
]

@Suite("Malformed input")
struct MalformedInputTests {
    @Test("The hand-built valid chunk and assign decode, so each malformed case differs in one thing only")
    func baseInputsAreValid() throws {
        let decodedChunk = try Message.decode(chunk.encoded)
        #expect(decodedChunk == .latentChunk(LatentChunk(
            taskID: 42, attempt: 0, hookpoint: "layers.5.mlp", firstPosition: 10, tokens: [100, 200], k: 2,
            indices: [1, 2, 3, 4], activations: [1, 2, 0.5, -1])))
        guard case .assign(let decodedAssign) = try Message.decode(assign.encoded) else {
            Issue.record("the valid assign did not decode as an assign")
            return
        }
        #expect(decodedAssign.promptIDs == [151646, 9707, 13])
        #expect(decodedAssign.generation.sampling.temperature == 0.6)
        #expect(decodedAssign.hookpoints.map(\.capture) == ["layers.5.mlp", "layers.10.mlp"])
    }

    @Test("Each malformed input gives its specific error", arguments: malformedCorpus)
    func malformedInputGivesSpecificError(_ malformed: MalformedCase) {
        #expect(throws: malformed.expected) {
            try Message.decode(malformed.bytes, limits: malformed.limits)
        }
    }

    @Test("The encoder writes the same bytes as the independent test-side msgpack writer")
    func encoderMatchesIndependentWriter() {
        let message = Message.latentChunk(LatentChunk(
            taskID: 42, attempt: 0, hookpoint: "layers.5.mlp", firstPosition: 10, tokens: [100, 200], k: 2,
            indices: [1, 2, 3, 4], activations: [1, 2, 0.5, -1]))
        #expect(message.encode() == chunk.encoded)
    }

    @Test("Errors explain themselves and name the field")
    func errorDescriptionsNameTheField() {
        let error = ProtocolError.blobLengthMismatch(field: "indices", bytes: 12, expectedBytes: 16)
        #expect(error.description.contains("'indices'"))
        #expect(ProtocolError.missingField("generation.topK").description.contains("generation.topK"))
    }
}
