import Experiment
import Protocol
import Testing

/// The worker's KV cache format travels in its hello as the optional `kv` field, only when it is
/// not float32, so a float32 worker's hello is byte for byte what it was before the option.
@Suite struct KVCacheTravelsInTheHello {
    static func hello(_ kvCache: KVCacheDType) -> Hello {
        Hello(workerID: "w1", host: "host", pid: 17, threads: 2, batchSlots: 8, modelFingerprint: "qwen2-test",
              tokenizerFingerprint: "tok", saeFingerprints: ["layers.10.mlp": "sae"], kvCache: kvCache)
    }

    /// msgpack of the pair "kv": "bf16" (fixstr 2, fixstr 4).
    static let bf16Pair: [UInt8] = [0xa2] + Array("kv".utf8) + [0xa4] + Array("bf16".utf8)

    @Test func aFloat32HelloHasElevenFieldsAndNoKVCacheField() {
        let bytes = Message.hello(Self.hello(.f32)).encode()
        // fixmap of 11: version, type and the nine hello fields it always had.
        #expect(bytes[0] == 0x8b)
        let kvKey: [UInt8] = [0xa2] + Array("kv".utf8)
        #expect(!(0...(bytes.count - kvKey.count)).contains { bytes[$0..<($0 + kvKey.count)].elementsEqual(kvKey) })
    }

    @Test func aBFloat16HelloIsTheFloat32OnePlusTheKVField() {
        let float32 = Message.hello(Self.hello(.f32)).encode()
        let bfloat16 = Message.hello(Self.hello(.bf16)).encode()
        #expect(bfloat16 == [0x80 | 12] + float32.dropFirst() + Self.bf16Pair)
    }

    @Test(arguments: KVCacheDType.allCases)
    func theFormatArrivesAsSent(kvCache: KVCacheDType) throws {
        guard case .hello(let received) = try Message.decode(Message.hello(Self.hello(kvCache)).encode()) else {
            Issue.record("a hello did not decode as a hello")
            return
        }
        #expect(received.kvCache == kvCache)
        #expect(received == Self.hello(kvCache))
    }

    @Test func anUnknownFormatIsRefusedNamingTheField() {
        let float32 = Message.hello(Self.hello(.f32)).encode()
        let bytes = [0x80 | 12] + float32.dropFirst() + [0xa2] + Array("kv".utf8) + [0xa3] + Array("fp8".utf8)
        #expect(throws: ProtocolError.invalidValue(field: "kvCache", reason: "'fp8' is not a KV cache format (f32 or bf16)")) {
            _ = try Message.decode(bytes)
        }
    }

    @Test func aMistypedFormatIsRefusedNamingTheField() {
        let float32 = Message.hello(Self.hello(.f32)).encode()
        let bytes = [0x80 | 12] + float32.dropFirst() + [0xa2] + Array("kv".utf8) + [0x01]
        #expect(throws: ProtocolError.mistypedField("kvCache", expected: "str", found: "uint")) {
            _ = try Message.decode(bytes)
        }
    }
}
