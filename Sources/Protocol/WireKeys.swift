/// The message type names carried under `WireKey.type`.
public enum MessageType: String, CaseIterable, Sendable {
    case hello, welcome, reject, credit, assign
    case latentChunk = "chunk"
    case taskDone = "done"
    case taskFailed = "failed"
    case heartbeat = "hb"
    case shutdown

    /// The raw values as static strings, for matching bytes without building a String.
    static let wireNames: [(FieldKey, MessageType)] = [
        (FieldKey("hello", "hello"), .hello), (FieldKey("welcome", "welcome"), .welcome),
        (FieldKey("reject", "reject"), .reject), (FieldKey("credit", "credit"), .credit),
        (FieldKey("assign", "assign"), .assign), (FieldKey("chunk", "latentChunk"), .latentChunk),
        (FieldKey("done", "taskDone"), .taskDone), (FieldKey("failed", "taskFailed"), .taskFailed),
        (FieldKey("hb", "heartbeat"), .heartbeat),
        (FieldKey("shutdown", "shutdown"), .shutdown),
    ]
}

/// The one table of map keys used on the wire. Keys are short because a worker sends
/// thousands of chunks per second; each field's Swift name is what errors report.
///
/// | key  | field (Swift name)               | msgpack type            | in                                  |
/// |------|----------------------------------|-------------------------|-------------------------------------|
/// | v    | (protocol version)               | uint                    | every message                       |
/// | t    | (message type, `MessageType`)    | str                     | every message                       |
/// | w    | workerID                         | str                     | hello                               |
/// | h    | host                             | str                     | hello                               |
/// | pid  | pid                              | uint                    | hello                               |
/// | pv   | protocolVersion                  | uint                    | hello                               |
/// | th   | threads                          | uint                    | hello                               |
/// | bs   | batchSlots                       | uint                    | hello                               |
/// | mf   | modelFingerprint                 | str                     | hello                               |
/// | tf   | tokenizerFingerprint             | str                     | hello                               |
/// | sf   | saeFingerprints                  | map str → str           | hello                               |
/// | run  | runID                            | str                     | welcome                             |
/// | hbi  | heartbeatIntervalMilliseconds    | uint                    | welcome                             |
/// | r    | reason                           | str                     | reject, failed, shutdown            |
/// | hbk  | handedBack (only when true)      | bool                    | failed                              |
/// | n    | count                            | uint                    | credit                              |
/// | id   | taskID                           | uint (64 bit)           | assign, chunk, done, failed         |
/// | a    | attempt                          | uint (32 bit)           | assign, chunk, done, failed         |
/// | pr   | problemID                        | str                     | assign                              |
/// | pi   | promptIDs                        | bin, int32 LE           | assign                              |
/// | g    | generation                       | map (keys below)        | assign                              |
/// | mn   | generation.maxNewTokens          | uint                    | assign.g                            |
/// | te   | generation.temperature           | float                   | assign.g                            |
/// | tp   | generation.topP                  | float64                 | assign.g                            |
/// | tk   | generation.topK                  | uint                    | assign.g                            |
/// | sd   | generation.seed                  | uint (64 bit)           | assign.g                            |
/// | hp   | hookpoints                       | array of map (c, s)     | assign                              |
/// | c    | hookpoints[i].capture            | str                     | assign.hp[i]                        |
/// | s    | hookpoints[i].sae                | str                     | assign.hp[i]                        |
/// | ip   | includePrompt                    | bool                    | assign                              |
/// | hk   | hookpoint                        | str                     | chunk                               |
/// | fp   | firstPosition                    | uint                    | chunk                               |
/// | ti   | tokens                           | bin, int32 LE [tokens]  | chunk                               |
/// | k    | k                                | uint                    | chunk                               |
/// | ix   | indices                          | bin, int32 LE [tokens×k]| chunk                               |
/// | ac   | activations                      | bin, float32 LE [tokens×k] | chunk                            |
/// | gi   | generatedIDs                     | bin, int32 LE           | done                                |
/// | sr   | stopReason ("eos" or "length")   | str                     | done                                |
/// | pt   | promptTokens                     | uint                    | done                                |
/// | tm   | timings                          | map str → float64       | done                                |
/// | fv   | fvu                              | map str → float64       | done                                |
/// | sq   | sequence                         | uint (64 bit)           | hb                                  |
/// | ed   | edits (only when there are any)  | array of map (below)    | assign                              |
/// | hk   | edits[i].hookpoint               | str                     | assign.ed[i]                        |
/// | fe   | edits[i].feature                 | uint                    | assign.ed[i]                        |
/// | op   | edits[i].operation (name)        | str: ablate/clamp/scale/add | assign.ed[i]                    |
/// | va   | edits[i].operation (value)       | float (absent for ablate) | assign.ed[i]                      |
/// | go   | edits[i].generatedOnly (only when true) | bool             | assign.ed[i]                        |
/// | nl   | !streamsLatents (only when true) | bool                    | assign                              |
/// | kv   | kvCache (only when not f32)      | str: bf16               | hello                               |
///
/// Integer arrays and activations travel as little-endian `bin` blobs, never element by
/// element, so a chunk encodes and decodes with a memcpy. Floats (`te`, `tp`) are written as
/// float32 and doubles as float64; decoding accepts either width for either.
enum WireKey {
    static let version = FieldKey("v", "version")
    static let type = FieldKey("t", "type")

    static let workerID = FieldKey("w", "workerID")
    static let host = FieldKey("h", "host")
    static let pid = FieldKey("pid", "pid")
    static let protocolVersion = FieldKey("pv", "protocolVersion")
    static let threads = FieldKey("th", "threads")
    static let batchSlots = FieldKey("bs", "batchSlots")
    static let modelFingerprint = FieldKey("mf", "modelFingerprint")
    static let tokenizerFingerprint = FieldKey("tf", "tokenizerFingerprint")
    static let saeFingerprints = FieldKey("sf", "saeFingerprints")

    static let runID = FieldKey("run", "runID")
    static let heartbeatInterval = FieldKey("hbi", "heartbeatIntervalMilliseconds")
    static let reason = FieldKey("r", "reason")
    static let count = FieldKey("n", "count")

    static let taskID = FieldKey("id", "taskID")
    static let attempt = FieldKey("a", "attempt")
    static let problemID = FieldKey("pr", "problemID")
    static let promptIDs = FieldKey("pi", "promptIDs")
    static let generation = FieldKey("g", "generation")
    static let maxNewTokens = FieldKey("mn", "maxNewTokens")
    static let temperature = FieldKey("te", "temperature")
    static let topP = FieldKey("tp", "topP")
    static let topK = FieldKey("tk", "topK")
    static let seed = FieldKey("sd", "seed")
    static let hookpoints = FieldKey("hp", "hookpoints")
    static let capture = FieldKey("c", "capture")
    static let sae = FieldKey("s", "sae")
    static let includePrompt = FieldKey("ip", "includePrompt")

    static let hookpoint = FieldKey("hk", "hookpoint")
    static let firstPosition = FieldKey("fp", "firstPosition")
    static let tokens = FieldKey("ti", "tokens")
    static let k = FieldKey("k", "k")
    static let indices = FieldKey("ix", "indices")
    static let activations = FieldKey("ac", "activations")

    static let generatedIDs = FieldKey("gi", "generatedIDs")
    static let stopReason = FieldKey("sr", "stopReason")
    static let promptTokens = FieldKey("pt", "promptTokens")
    static let timings = FieldKey("tm", "timings")
    static let fvu = FieldKey("fv", "fvu")

    static let sequence = FieldKey("sq", "sequence")
    static let handedBack = FieldKey("hbk", "handedBack")

    static let edits = FieldKey("ed", "edits")
    static let feature = FieldKey("fe", "feature")
    static let operation = FieldKey("op", "operation")
    static let value = FieldKey("va", "value")
    static let generatedOnly = FieldKey("go", "generatedOnly")
    static let noLatents = FieldKey("nl", "noLatents")
    static let kvCache = FieldKey("kv", "kvCache")

    /// Every key above, for naming a field found in raw bytes.
    static let all: [FieldKey] = [
        version,
        type,
        workerID,
        host,
        pid,
        protocolVersion,
        threads,
        batchSlots,
        modelFingerprint,
        tokenizerFingerprint,
        saeFingerprints,
        runID,
        heartbeatInterval,
        reason,
        count,
        taskID,
        attempt,
        problemID,
        promptIDs,
        generation,
        maxNewTokens,
        temperature,
        topP,
        topK,
        seed,
        hookpoints,
        capture,
        sae,
        includePrompt,
        hookpoint,
        firstPosition,
        tokens,
        k,
        indices,
        activations,
        generatedIDs,
        stopReason,
        promptTokens,
        timings,
        fvu,
        sequence,
        handedBack,
        edits,
        feature,
        operation,
        value,
        generatedOnly,
        noLatents,
        kvCache,
    ]

    /// The Swift name of the field a top-level wire key stands for, or the key itself.
    static func fieldName(wire: UnsafeRawBufferPointer) -> String {
        if let known = all.first(where: { $0.matches(wire) }) { return known.name.description }
        return String(decoding: wire, as: UTF8.self)
    }
}

/// A map key as written on the wire, and the field name errors report. Both are static
/// strings, so passing keys around never touches a reference count.
struct FieldKey: Sendable {
    let wire: StaticString
    let name: StaticString

    init(_ wire: StaticString, _ name: StaticString) {
        self.wire = wire
        self.name = name
    }

    var wireBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: wire.utf8Start, count: wire.utf8CodeUnitCount)
    }

    /// Keys are a few bytes: a byte loop beats a call to memcmp.
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = wire.utf8CodeUnitCount
        guard bytes.count == count else { return false }
        let expected = wire.utf8Start
        for index in 0..<count where bytes[index] != expected[index] {
            return false
        }
        return true
    }
}
