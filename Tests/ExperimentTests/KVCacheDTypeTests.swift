import Experiment
import Testing

/// `--kv-cache f32|bf16`: the two spellings, and a refusal that names the option and both formats.
@Suite struct KVCacheDTypeTests {
    @Test func theTwoFormatsParseAsSpelled() throws {
        #expect(try KVCacheDType(parsing: "f32") == .f32)
        #expect(try KVCacheDType(parsing: "bf16") == .bf16)
    }

    @Test func theDefaultIsTheExactFloat32() {
        #expect(KVCacheDType.standard == .f32)
    }

    @Test(arguments: ["fp32", "BF16", "bfloat16", "f16", "", " bf16"])
    func anyOtherSpellingIsRefusedNamingTheOptionAndTheFormats(text: String) {
        #expect(throws: KVCacheDTypeError(option: "--kv-cache", value: text)) { _ = try KVCacheDType(parsing: text) }
        let message = KVCacheDTypeError(option: "--kv-cache", value: text).description
        #expect(message.hasPrefix("--kv-cache: '\(text)' is not a KV cache format; use one of f32, bf16"))
    }

    @Test func eachFormatKnowsItsElementSizeAndName() {
        #expect(KVCacheDType.f32.bytesPerElement == 4)
        #expect(KVCacheDType.bf16.bytesPerElement == 2)
        #expect(KVCacheDType.f32.longName == "float32")
        #expect(KVCacheDType.bf16.longName == "bfloat16")
    }
}
