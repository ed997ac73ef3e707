import Experiment
import CMsgPack

extension Message {
    /// Decodes one message, strictly: every documented field present with its type, no
    /// other field, blobs matching their shapes, nothing past the map.
    ///
    /// `StructureCheck` vets the raw bytes first (declared lengths, bounds, nesting), then
    /// msgpack-c unpacks them (strings and blobs stay references into `bytes`), then each
    /// field is read and validated.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, limits: DecodingLimits = .default
    ) throws(ProtocolError) -> Message {
        try StructureCheck.check(bytes, limits: limits)

        var unpacked = msgpack_unpacked()
        msgpack_unpacked_init(&unpacked)
        defer { msgpack_unpacked_destroy(&unpacked) }
        var offset = 0
        let status = msgpack_unpack_next(
            &unpacked, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count, &offset)
        switch status {
        case MSGPACK_UNPACK_SUCCESS, MSGPACK_UNPACK_EXTRA_BYTES:
            break
        case MSGPACK_UNPACK_CONTINUE:
            throw .truncated(field: "message")
        case MSGPACK_UNPACK_NOMEM_ERROR:
            throw .malformed(offset: offset, reason: "msgpack-c ran out of memory")
        default:
            throw .malformed(offset: offset, reason: "msgpack-c could not parse the input")
        }
        guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
        return try MessageReader(limits: limits).message(from: unpacked.data)
    }

    public static func decode(_ bytes: [UInt8], limits: DecodingLimits = .default) throws(ProtocolError) -> Message {
        do {
            return try bytes.withUnsafeBytes { buffer in try decode(buffer, limits: limits) }
        } catch let error as ProtocolError {
            throw error
        } catch {
            preconditionFailure("decode throws only ProtocolError")
        }
    }
}

/// Turns the msgpack-c object tree of one message into a `Message`.
struct MessageReader {
    let limits: DecodingLimits

    static let helloFields = [
        WireKey.version, WireKey.type, WireKey.workerID, WireKey.host, WireKey.pid, WireKey.protocolVersion,
        WireKey.threads, WireKey.batchSlots, WireKey.modelFingerprint, WireKey.tokenizerFingerprint,
        WireKey.saeFingerprints, WireKey.kvCache,
    ]
    static let welcomeFields = [WireKey.version, WireKey.type, WireKey.runID, WireKey.heartbeatInterval]
    static let reasonFields = [WireKey.version, WireKey.type, WireKey.reason]
    static let creditFields = [WireKey.version, WireKey.type, WireKey.count]
    static let assignFields = [
        WireKey.version, WireKey.type, WireKey.taskID, WireKey.attempt, WireKey.problemID, WireKey.promptIDs,
        WireKey.generation, WireKey.hookpoints, WireKey.includePrompt, WireKey.edits, WireKey.noLatents,
    ]
    static let editFields = [WireKey.hookpoint, WireKey.feature, WireKey.operation, WireKey.value, WireKey.generatedOnly]
    static let generationFields = [WireKey.maxNewTokens, WireKey.temperature, WireKey.topP, WireKey.topK, WireKey.seed]
    static let hookpointFields = [WireKey.capture, WireKey.sae]
    static let latentChunkFields = [
        WireKey.version, WireKey.type, WireKey.taskID, WireKey.attempt, WireKey.hookpoint, WireKey.firstPosition,
        WireKey.tokens, WireKey.k, WireKey.indices, WireKey.activations,
    ]
    static let taskDoneFields = [
        WireKey.version, WireKey.type, WireKey.taskID, WireKey.attempt, WireKey.generatedIDs, WireKey.stopReason,
        WireKey.promptTokens, WireKey.timings, WireKey.fvu,
    ]
    static let taskFailedFields = [WireKey.version, WireKey.type, WireKey.taskID, WireKey.attempt, WireKey.reason, WireKey.handedBack]
    static let heartbeatFields = [WireKey.version, WireKey.type, WireKey.sequence]

    func message(from object: msgpack_object) throws(ProtocolError) -> Message {
        guard object.type == MSGPACK_OBJECT_MAP else {
            throw .notAMap(found: ObjectReader.typeName(object))
        }
        let pairs = UnsafeBufferPointer(start: object.via.map.ptr, count: Int(object.via.map.size))
        let envelope = FieldMap(pairs: pairs, prefix: "")
        // Version before type: a peer of another version may use other type names.
        let version = try envelope.required(WireKey.version).uint64()
        guard version == UInt64(ThinkLensVersion.wireProtocol) else {
            throw .unsupportedVersion(
                found: version > UInt64(Int.max) ? Int.max : Int(version), supported: ThinkLensVersion.wireProtocol)
        }
        let type = try envelope.required(WireKey.type).messageType()

        switch type {
        case .hello:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.helloFields)
            var kvCache = KVCacheDType.standard
            if let name = try fields.optional(WireKey.kvCache)?.string(limits: limits) {
                guard let dtype = KVCacheDType(rawValue: name) else {
                    throw .invalidValue(field: WireKey.kvCache.name.description, reason: "'\(PeerText.escaped(name))' is not a KV cache format (f32 or bf16)")
                }
                kvCache = dtype
            }
            return .hello(Hello(
                workerID: try fields.required(WireKey.workerID).string(limits: limits),
                host: try fields.required(WireKey.host).string(limits: limits),
                pid: try fields.required(WireKey.pid).nonNegativeInt(),
                protocolVersion: try fields.required(WireKey.protocolVersion).nonNegativeInt(),
                threads: try fields.required(WireKey.threads).nonNegativeInt(),
                batchSlots: try fields.required(WireKey.batchSlots).nonNegativeInt(),
                modelFingerprint: try fields.required(WireKey.modelFingerprint).string(limits: limits),
                tokenizerFingerprint: try fields.required(WireKey.tokenizerFingerprint).string(limits: limits),
                saeFingerprints: try fields.required(WireKey.saeFingerprints).stringMap(limits: limits),
                kvCache: kvCache))
        case .welcome:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.welcomeFields)
            return .welcome(Welcome(
                runID: try fields.required(WireKey.runID).string(limits: limits),
                heartbeatIntervalMilliseconds: try fields.required(WireKey.heartbeatInterval).nonNegativeInt()))
        case .reject:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.reasonFields)
            return .reject(Reject(reason: try fields.required(WireKey.reason).string(limits: limits)))
        case .credit:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.creditFields)
            return .credit(Credit(count: try fields.required(WireKey.count).nonNegativeInt()))
        case .assign:
            return .assign(try assign(pairs))
        case .latentChunk:
            return .latentChunk(try latentChunk(pairs))
        case .taskDone:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.taskDoneFields)
            let stopName = try fields.required(WireKey.stopReason).string(limits: limits)
            guard let stopReason = StopReason(rawValue: stopName) else {
                throw .invalidValue(field: WireKey.stopReason.name.description, reason: "'\(stopName)' is neither 'eos' nor 'length'")
            }
            return .taskDone(TaskDone(
                taskID: try fields.required(WireKey.taskID).uint64(),
                attempt: try fields.required(WireKey.attempt).uint32(),
                generatedIDs: try fields.required(WireKey.generatedIDs).int32Blob(maxCount: limits.maxTokens),
                stopReason: stopReason,
                promptTokens: try fields.required(WireKey.promptTokens).nonNegativeInt(),
                timings: try fields.required(WireKey.timings).doubleMap(limits: limits),
                fvu: try fields.required(WireKey.fvu).doubleMap(limits: limits)))
        case .taskFailed:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.taskFailedFields)
            return .taskFailed(TaskFailed(
                taskID: try fields.required(WireKey.taskID).uint64(),
                attempt: try fields.required(WireKey.attempt).uint32(),
                reason: try fields.required(WireKey.reason).string(limits: limits),
                handedBack: try fields.optional(WireKey.handedBack)?.bool() ?? false))
        case .heartbeat:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.heartbeatFields)
            return .heartbeat(Heartbeat(sequence: try fields.required(WireKey.sequence).uint64()))
        case .shutdown:
            let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.reasonFields)
            return .shutdown(Shutdown(reason: try fields.required(WireKey.reason).string(limits: limits)))
        }
    }

    private func assign(_ pairs: UnsafeBufferPointer<msgpack_object_kv>) throws(ProtocolError) -> Assign {
        let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.assignFields)
        let generationFields = try fields.required(WireKey.generation)
            .map(prefix: "generation.", allowed: Self.generationFields)
        let generation = GenerationParameters(
            maxNewTokens: try generationFields.required(WireKey.maxNewTokens).nonNegativeInt(),
            sampling: SamplingParameters(
                temperature: try generationFields.required(WireKey.temperature).float(),
                topK: try generationFields.required(WireKey.topK).nonNegativeInt(),
                topP: try generationFields.required(WireKey.topP).double()),
            seed: try generationFields.required(WireKey.seed).uint64())
        let hookpointObjects = try fields.required(WireKey.hookpoints).array()
        var hookpoints: [HookpointSpec] = []
        hookpoints.reserveCapacity(hookpointObjects.count)
        for (index, object) in hookpointObjects.enumerated() {
            let spec = try ObjectReader(object: object, prefix: "hookpoints[\(index)]")
                .map(prefix: "hookpoints[\(index)].", allowed: Self.hookpointFields)
            hookpoints.append(HookpointSpec(
                capture: try spec.required(WireKey.capture).string(limits: limits),
                sae: try spec.required(WireKey.sae).string(limits: limits)))
        }
        var edits: [FeatureEdit] = []
        if let editObjects = try fields.optional(WireKey.edits)?.array() {
            edits.reserveCapacity(editObjects.count)
            for (index, object) in editObjects.enumerated() {
                let prefix = "edits[\(index)]"
                let edit = try ObjectReader(object: object, prefix: prefix).map(prefix: prefix + ".", allowed: Self.editFields)
                let feature = try edit.required(WireKey.feature).nonNegativeInt()
                guard feature <= Int(Int32.max) else {
                    throw .invalidValue(field: prefix + ".feature", reason: "\(feature) is not a latent index")
                }
                let name = try edit.required(WireKey.operation).string(limits: limits)
                let value = try edit.optional(WireKey.value)?.float()
                guard let operation = FeatureEdit.Operation(name: name, value: value) else {
                    throw .invalidValue(field: prefix + ".operation", reason: "'\(name)' with value \(value.map { "\($0)" } ?? "none") is not an edit (ablate, or clamp/scale/add with a finite value)")
                }
                edits.append(FeatureEdit(
                    hookpoint: try edit.required(WireKey.hookpoint).string(limits: limits), feature: feature,
                    operation: operation, generatedOnly: try edit.optional(WireKey.generatedOnly)?.bool() ?? false))
            }
        }
        return Assign(
            taskID: try fields.required(WireKey.taskID).uint64(),
            attempt: try fields.required(WireKey.attempt).uint32(),
            problemID: try fields.required(WireKey.problemID).string(limits: limits),
            promptIDs: try fields.required(WireKey.promptIDs).int32Blob(maxCount: limits.maxTokens),
            generation: generation,
            hookpoints: hookpoints,
            includePrompt: try fields.required(WireKey.includePrompt).bool(),
            edits: edits,
            streamsLatents: !(try fields.optional(WireKey.noLatents)?.bool() ?? false))
    }

    private func latentChunk(_ pairs: UnsafeBufferPointer<msgpack_object_kv>) throws(ProtocolError) -> LatentChunk {
        let fields = try FieldMap(pairs: pairs, prefix: "", allowed: Self.latentChunkFields)
        let tokens = try fields.required(WireKey.tokens).int32Blob(maxCount: limits.maxTokens)
        // An empty chunk says nothing, and a coordinator that staged one per message would grow
        // (and count it as progress) without bound; a worker never sends one.
        guard !tokens.isEmpty else {
            throw .invalidValue(field: WireKey.tokens.name.description, reason: "a chunk carries at least one token")
        }
        let k = try fields.required(WireKey.k).nonNegativeInt()
        guard k >= 1 else { throw .invalidValue(field: WireKey.k.name.description, reason: "k must be at least 1") }
        guard k <= limits.maxLatentsPerToken else {
            throw .overBound(field: WireKey.k.name.description, count: k, bound: limits.maxLatentsPerToken)
        }
        // tokens ≤ maxTokens and k ≤ maxLatentsPerToken keep this product far from overflow
        // for any sane limits; the check keeps it total for insane ones.
        let (latentCount, overflow) = tokens.count.multipliedReportingOverflow(by: k)
        guard !overflow, latentCount <= Int.max / 4 else {
            throw .invalidValue(field: WireKey.k.name.description, reason: "tokens × k overflows")
        }
        return LatentChunk(
            taskID: try fields.required(WireKey.taskID).uint64(),
            attempt: try fields.required(WireKey.attempt).uint32(),
            hookpoint: try fields.required(WireKey.hookpoint).string(limits: limits),
            firstPosition: try fields.required(WireKey.firstPosition).nonNegativeInt(),
            tokens: tokens,
            k: k,
            indices: try fields.required(WireKey.indices).blob(Int32.self, exactCount: latentCount),
            activations: try fields.required(WireKey.activations).blob(Float.self, exactCount: latentCount))
    }
}

/// The entries of one msgpack map with string keys, looked up by `FieldKey`.
struct FieldMap {
    let pairs: UnsafeBufferPointer<msgpack_object_kv>
    let prefix: String
    private let allowed: [FieldKey]
    /// Nibble i holds 1 + the index in `pairs` of `allowed[i]`'s entry, or 0 if it is absent:
    /// one pass over the map finds every field, without allocating.
    private var slots: UInt64 = 0

    /// No checks: for reading the envelope before the message type (and its keys) is known.
    init(pairs: UnsafeBufferPointer<msgpack_object_kv>, prefix: String) {
        self.pairs = pairs
        self.prefix = prefix
        self.allowed = []
    }

    /// Checks that every key is a string from `allowed` and appears once.
    init(pairs: UnsafeBufferPointer<msgpack_object_kv>, prefix: String, allowed: [FieldKey]) throws(ProtocolError) {
        precondition(allowed.count <= 15, "a 64-bit slot table covers 15 fields; every message has fewer")
        self.pairs = pairs
        self.prefix = prefix
        self.allowed = allowed
        for (pairIndex, pair) in pairs.enumerated() {
            guard pair.key.type == MSGPACK_OBJECT_STR else {
                throw .mistypedField(prefix + "(key)", expected: "str", found: ObjectReader.typeName(pair.key))
            }
            let key = ObjectReader.rawBytes(pair.key.via.str.ptr, pair.key.via.str.size)
            guard let index = allowed.firstIndex(where: { $0.matches(key) }) else {
                throw .unknownField(prefix + String(decoding: key, as: UTF8.self))
            }
            let shift = UInt64(4 * index)
            guard (slots >> shift) & 0xf == 0 else { throw .duplicateField(prefix + allowed[index].name.description) }
            // No duplicates and no unknown keys, so at most allowed.count (≤ 15) pairs get here.
            slots |= UInt64(pairIndex + 1) << shift
        }
    }

    /// A field that may be absent; present, it must be well-typed like any other.
    func optional(_ key: FieldKey) -> ObjectReader? {
        guard let index = allowed.firstIndex(where: { $0.wire.utf8Start == key.wire.utf8Start }) else { return nil }
        let slot = Int((slots >> UInt64(4 * index)) & 0xf)
        return slot > 0 ? ObjectReader(object: pairs[slot - 1].val, prefix: prefix, name: key.name) : nil
    }

    func required(_ key: FieldKey) throws(ProtocolError) -> ObjectReader {
        if let index = allowed.firstIndex(where: { $0.wire.utf8Start == key.wire.utf8Start }) {
            let slot = Int((slots >> UInt64(4 * index)) & 0xf)
            guard slot > 0 else { throw .missingField(prefix + key.name.description) }
            return ObjectReader(object: pairs[slot - 1].val, prefix: prefix, name: key.name)
        }
        for pair in pairs where pair.key.type == MSGPACK_OBJECT_STR {
            if key.matches(ObjectReader.rawBytes(pair.key.via.str.ptr, pair.key.via.str.size)) {
                return ObjectReader(object: pair.val, prefix: prefix, name: key.name)
            }
        }
        throw .missingField(prefix + key.name.description)
    }
}

/// One msgpack-c object and the field it holds, read as the type the field needs.
struct ObjectReader {
    let object: msgpack_object
    /// The field's name is `prefix + name`, joined only when an error needs it.
    let prefix: String
    let name: StaticString

    init(object: msgpack_object, prefix: String, name: StaticString = "") {
        self.object = object
        self.prefix = prefix
        self.name = name
    }

    var field: String { prefix + name.description }

    static func rawBytes(_ pointer: UnsafePointer<CChar>?, _ count: UInt32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : Int(count))
    }

    static func typeName(_ object: msgpack_object) -> String {
        switch object.type {
        case MSGPACK_OBJECT_NIL: return "nil"
        case MSGPACK_OBJECT_BOOLEAN: return "bool"
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint"
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int"
        case MSGPACK_OBJECT_FLOAT32: return "float32"
        case MSGPACK_OBJECT_FLOAT64: return "float64"
        case MSGPACK_OBJECT_STR: return "str"
        case MSGPACK_OBJECT_ARRAY: return "array"
        case MSGPACK_OBJECT_MAP: return "map"
        case MSGPACK_OBJECT_BIN: return "bin"
        case MSGPACK_OBJECT_EXT: return "ext"
        default: return "unknown"
        }
    }

    private func mistyped(_ expected: String) -> ProtocolError {
        .mistypedField(field, expected: expected, found: Self.typeName(object))
    }

    func uint64() throws(ProtocolError) -> UInt64 {
        guard object.type == MSGPACK_OBJECT_POSITIVE_INTEGER else { throw mistyped("uint") }
        return object.via.u64
    }

    func uint32() throws(ProtocolError) -> UInt32 {
        let value = try uint64()
        guard let narrow = UInt32(exactly: value) else {
            throw .invalidValue(field: field, reason: "\(value) does not fit in 32 bits")
        }
        return narrow
    }

    func nonNegativeInt() throws(ProtocolError) -> Int {
        if object.type == MSGPACK_OBJECT_NEGATIVE_INTEGER {
            throw .invalidValue(field: field, reason: "\(object.via.i64) is negative")
        }
        let value = try uint64()
        guard let narrow = Int(exactly: value) else {
            throw .invalidValue(field: field, reason: "\(value) does not fit in a signed 64-bit integer")
        }
        return narrow
    }

    func double() throws(ProtocolError) -> Double {
        guard object.type == MSGPACK_OBJECT_FLOAT64 || object.type == MSGPACK_OBJECT_FLOAT32 else {
            throw mistyped("float")
        }
        return object.via.f64
    }

    func float() throws(ProtocolError) -> Float { Float(try double()) }

    func bool() throws(ProtocolError) -> Bool {
        guard object.type == MSGPACK_OBJECT_BOOLEAN else { throw mistyped("bool") }
        return object.via.boolean
    }

    func string(limits: DecodingLimits) throws(ProtocolError) -> String {
        guard object.type == MSGPACK_OBJECT_STR else { throw mistyped("str") }
        let bytes = Self.rawBytes(object.via.str.ptr, object.via.str.size)
        // StructureCheck already enforced the bound; kept here so this reader is safe alone.
        guard bytes.count <= limits.maxStringBytes else {
            throw .overBound(field: field, count: bytes.count, bound: limits.maxStringBytes)
        }
        // ASCII (every key and most values) is valid UTF-8 as it is; only the rest needs the full check.
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        guard let string = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return string
    }

    /// The message type, matched on the raw bytes (a string switch costs more than the rest of a small message).
    func messageType() throws(ProtocolError) -> MessageType {
        guard object.type == MSGPACK_OBJECT_STR else { throw mistyped("str") }
        let bytes = Self.rawBytes(object.via.str.ptr, object.via.str.size)
        for (wire, type) in MessageType.wireNames where wire.matches(bytes) {
            return type
        }
        throw .unknownType(String(decoding: bytes, as: UTF8.self))
    }

    func array() throws(ProtocolError) -> UnsafeBufferPointer<msgpack_object> {
        guard object.type == MSGPACK_OBJECT_ARRAY else { throw mistyped("array") }
        return UnsafeBufferPointer(start: object.via.array.ptr, count: Int(object.via.array.size))
    }

    func map(prefix: String, allowed: [FieldKey]) throws(ProtocolError) -> FieldMap {
        guard object.type == MSGPACK_OBJECT_MAP else { throw mistyped("map") }
        let pairs = UnsafeBufferPointer(start: object.via.map.ptr, count: Int(object.via.map.size))
        return try FieldMap(pairs: pairs, prefix: prefix, allowed: allowed)
    }

    /// A map of free-form string keys, read value by value.
    private func entries<Value>(
        limits: DecodingLimits, value read: (ObjectReader) throws(ProtocolError) -> Value
    ) throws(ProtocolError) -> [String: Value] {
        guard object.type == MSGPACK_OBJECT_MAP else { throw mistyped("map") }
        let pairs = UnsafeBufferPointer(start: object.via.map.ptr, count: Int(object.via.map.size))
        var result: [String: Value] = [:]
        result.reserveCapacity(pairs.count)
        for pair in pairs {
            let key = try ObjectReader(object: pair.key, prefix: field + " (key)").string(limits: limits)
            let value = try read(ObjectReader(object: pair.val, prefix: field + "." + key))
            guard result.updateValue(value, forKey: key) == nil else {
                throw .duplicateField(field + "." + key)
            }
        }
        return result
    }

    func stringMap(limits: DecodingLimits) throws(ProtocolError) -> [String: String] {
        try entries(limits: limits) { (reader) throws(ProtocolError) in try reader.string(limits: limits) }
    }

    func doubleMap(limits: DecodingLimits) throws(ProtocolError) -> [String: Double] {
        try entries(limits: limits) { (reader) throws(ProtocolError) in try reader.double() }
    }

    private func binBytes() throws(ProtocolError) -> UnsafeRawBufferPointer {
        guard object.type == MSGPACK_OBJECT_BIN else { throw mistyped("bin") }
        return Self.rawBytes(object.via.bin.ptr, object.via.bin.size)
    }

    /// A blob of 4-byte elements whose count only its own length declares.
    func int32Blob(maxCount: Int) throws(ProtocolError) -> [Int32] {
        let bytes = try binBytes()
        guard bytes.count % 4 == 0 else {
            throw .blobLengthMismatch(field: field, bytes: bytes.count, expectedBytes: bytes.count / 4 * 4 + 4)
        }
        guard bytes.count / 4 <= maxCount else {
            throw .overBound(field: field, count: bytes.count / 4, bound: maxCount)
        }
        return Self.elements(Int32.self, from: bytes)
    }

    /// A blob whose element count the message's shape fixes (e.g. tokens × k).
    func blob<Element: BlobElement>(_ type: Element.Type, exactCount: Int) throws(ProtocolError) -> [Element] {
        let bytes = try binBytes()
        guard bytes.count == exactCount * 4 else {
            throw .blobLengthMismatch(field: field, bytes: bytes.count, expectedBytes: exactCount * 4)
        }
        return Self.elements(type, from: bytes)
    }

    /// Copies little-endian 4-byte elements out of a possibly unaligned blob.
    private static func elements<Element: BlobElement>(_ type: Element.Type, from bytes: UnsafeRawBufferPointer) -> [Element] {
        let count = bytes.count / 4
        #if _endian(little)
        // Aligned blobs take the path the optimizer specializes best (about twice as fast
        // for chunk-sized arrays as `unsafeUninitializedCapacity`, which looks up array metadata each call).
        if let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Element>.alignment == 0 {
            return bytes.withMemoryRebound(to: Element.self) { Array($0) }
        }
        #endif
        return [Element](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            if count > 0 {
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: count * 4)
                #if !_endian(little)
                for index in 0..<count {
                    let raw = unsafeBitCast(buffer[index], to: UInt32.self)
                    buffer[index] = Element(littleEndianBits: raw)
                }
                #endif
            }
            initializedCount = count
        }
    }
}
