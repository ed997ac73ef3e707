import Experiment
import Protocol
import Testing

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

@Suite("Mutation")
struct MutationTests {
    /// Valid encodings of every message type, kept small so 100,000 decodes stay fast in debug builds.
    static func seedEncodings() -> [[UInt8]] {
        var random = RandomMessages(seed: 0xC0FFEE)
        var encodings: [[UInt8]] = []
        for type in MessageType.allCases {
            for _ in 0..<8 {
                encodings.append(random.message(of: type).encode())
            }
        }
        return encodings
    }

    /// Bytes that start headers with large or unusual lengths, for replacing random bytes with.
    static let interestingBytes: [UInt8] = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xc0, 0xc1, 0xc4, 0xc6, 0xca, 0xcb,
                                            0xcf, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff]

    @Test("100,000 flipped, truncated and spliced encodings each decode to a valid message or throw")
    func mutatedEncodingsDecodeOrThrow() {
        let seeds = Self.seedEncodings()
        var generator = SplitMix64(seed: 0xBAD_F00D)
        let mutationCount = 100_000
        var decoded = 0
        var rejected = 0
        var unstable: [[UInt8]] = []
        let start = clockSeconds()

        for iteration in 0..<mutationCount {
            let mutated = mutate(seeds, operation: iteration % 4, using: &generator)
            do {
                let message = try Message.decode(mutated)
                // A valid message re-encodes to bytes that decode to the same message, stably.
                let reencoded = message.encode()
                let again = try Message.decode(reencoded)
                if again.encode() != reencoded { unstable.append(mutated) }
                decoded += 1
            } catch {
                rejected += 1
            }
        }

        let seconds = clockSeconds() - start
        print("mutation test: \(mutationCount) inputs, \(decoded) decoded, \(rejected) rejected, \(seconds) s")
        #expect(decoded + rejected == mutationCount)
        #expect(unstable.isEmpty, "re-encoding was unstable for \(unstable.count) inputs, first: \(unstable.first ?? [])")
        // Both outcomes occur, so the mutations neither always break nor never break the input.
        #expect(decoded > 1000)
        #expect(rejected > 1000)
    }

    /// 0: flip bits or replace bytes; 1: truncate; 2: splice two encodings; 3: insert or delete bytes.
    private func mutate(_ seeds: [[UInt8]], operation: Int, using generator: inout SplitMix64) -> [UInt8] {
        var bytes = seeds.randomElement(using: &generator)!
        switch operation {
        case 0:
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                if Bool.random(using: &generator) {
                    bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &generator)
                } else {
                    bytes[index] = Self.interestingBytes.randomElement(using: &generator)!
                }
            }
        case 1:
            bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
        case 2:
            let other = seeds.randomElement(using: &generator)!
            let cut = Int.random(in: 0...bytes.count, using: &generator)
            let otherCut = Int.random(in: 0...other.count, using: &generator)
            bytes = Array(bytes.prefix(cut)) + Array(other.suffix(from: otherCut))
        default:
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            if Bool.random(using: &generator) {
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
            } else {
                bytes.remove(at: index)
            }
        }
        return bytes
    }

    private func clockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
