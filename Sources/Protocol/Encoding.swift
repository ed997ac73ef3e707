import CMsgPack

extension Message {
    /// The message as one msgpack map, written by msgpack-c.
    ///
    /// Two passes over the same field list: the first adds up an upper bound of the size,
    /// the second lets msgpack-c write straight into an array of that capacity, so the
    /// output is allocated once and blobs are copied once (memcpy).
    public func encode() -> [UInt8] {
        var bound = SizeBound()
        writeFields(to: &bound)
        return [UInt8](unsafeUninitializedCapacity: bound.bytes) { buffer, initializedCount in
            var output = OutputBuffer(base: buffer.baseAddress!, capacity: buffer.count, count: 0)
            withUnsafeMutablePointer(to: &output) { outputPointer in
                var packer = MsgPackPacker(output: outputPointer)
                writeFields(to: &packer)
            }
            initializedCount = output.count
        }
    }

    /// Envelope (version, type) first, then the payload's fields in `WireKey` order.
    func writeFields<Sink: MsgPackSink>(to sink: inout Sink) {
        func envelope(fieldCount: Int) {
            sink.map(2 + fieldCount)
            sink.key(WireKey.version)
            sink.uint(UInt64(ThinkLensVersion.wireProtocol))
            sink.key(WireKey.type)
            sink.string(typeName)
        }
        switch self {
        case .hello(let hello):
            envelope(fieldCount: 9 + (hello.kvCache == .standard ? 0 : 1))
            sink.key(WireKey.workerID); sink.string(hello.workerID)
            sink.key(WireKey.host); sink.string(hello.host)
            sink.key(WireKey.pid); sink.int(hello.pid)
            sink.key(WireKey.protocolVersion); sink.int(hello.protocolVersion)
            sink.key(WireKey.threads); sink.int(hello.threads)
            sink.key(WireKey.batchSlots); sink.int(hello.batchSlots)
            sink.key(WireKey.modelFingerprint); sink.string(hello.modelFingerprint)
            sink.key(WireKey.tokenizerFingerprint); sink.string(hello.tokenizerFingerprint)
            sink.key(WireKey.saeFingerprints)
            sink.map(hello.saeFingerprints.count)
            for (hookpoint, fingerprint) in hello.saeFingerprints.sorted(by: { $0.key < $1.key }) {
                sink.string(hookpoint)
                sink.string(fingerprint)
            }
            if hello.kvCache != .standard { sink.key(WireKey.kvCache); sink.string(hello.kvCache.rawValue) }
        case .welcome(let welcome):
            envelope(fieldCount: 2)
            sink.key(WireKey.runID); sink.string(welcome.runID)
            sink.key(WireKey.heartbeatInterval); sink.int(welcome.heartbeatIntervalMilliseconds)
        case .reject(let reject):
            envelope(fieldCount: 1)
            sink.key(WireKey.reason); sink.string(reject.reason)
        case .credit(let credit):
            envelope(fieldCount: 1)
            sink.key(WireKey.count); sink.int(credit.count)
        case .assign(let assign):
            envelope(fieldCount: 7 + (assign.edits.isEmpty ? 0 : 1) + (assign.streamsLatents ? 0 : 1))
            sink.key(WireKey.taskID); sink.uint(assign.taskID)
            sink.key(WireKey.attempt); sink.uint(UInt64(assign.attempt))
            sink.key(WireKey.problemID); sink.string(assign.problemID)
            sink.key(WireKey.promptIDs); sink.blob(assign.promptIDs)
            sink.key(WireKey.generation)
            let generation = assign.generation
            sink.map(5)
            sink.key(WireKey.maxNewTokens); sink.int(generation.maxNewTokens)
            sink.key(WireKey.temperature); sink.float(generation.sampling.temperature)
            // top-p as the Double it was parsed as: a float32 0.95 is 0.949999988, not what was asked.
            sink.key(WireKey.topP); sink.double(generation.sampling.topP)
            sink.key(WireKey.topK); sink.int(generation.sampling.topK)
            sink.key(WireKey.seed); sink.uint(generation.seed)
            sink.key(WireKey.hookpoints)
            sink.array(assign.hookpoints.count)
            for spec in assign.hookpoints {
                sink.map(2)
                sink.key(WireKey.capture); sink.string(spec.capture)
                sink.key(WireKey.sae); sink.string(spec.sae)
            }
            sink.key(WireKey.includePrompt); sink.bool(assign.includePrompt)
            if !assign.edits.isEmpty {
                sink.key(WireKey.edits)
                sink.array(assign.edits.count)
                for edit in assign.edits {
                    let value = edit.operation.value
                    sink.map(3 + (value == nil ? 0 : 1) + (edit.generatedOnly ? 1 : 0))
                    sink.key(WireKey.hookpoint); sink.string(edit.hookpoint)
                    sink.key(WireKey.feature); sink.int(edit.feature)
                    sink.key(WireKey.operation); sink.string(edit.operation.name)
                    if let value { sink.key(WireKey.value); sink.float(value) }
                    if edit.generatedOnly { sink.key(WireKey.generatedOnly); sink.bool(true) }
                }
            }
            if !assign.streamsLatents { sink.key(WireKey.noLatents); sink.bool(true) }
        case .latentChunk(let chunk):
            envelope(fieldCount: 8)
            sink.key(WireKey.taskID); sink.uint(chunk.taskID)
            sink.key(WireKey.attempt); sink.uint(UInt64(chunk.attempt))
            sink.key(WireKey.hookpoint); sink.string(chunk.hookpoint)
            sink.key(WireKey.firstPosition); sink.int(chunk.firstPosition)
            sink.key(WireKey.tokens); sink.blob(chunk.tokens)
            sink.key(WireKey.k); sink.int(chunk.k)
            sink.key(WireKey.indices); sink.blob(chunk.indices)
            sink.key(WireKey.activations); sink.blob(chunk.activations)
        case .taskDone(let done):
            envelope(fieldCount: 7)
            sink.key(WireKey.taskID); sink.uint(done.taskID)
            sink.key(WireKey.attempt); sink.uint(UInt64(done.attempt))
            sink.key(WireKey.generatedIDs); sink.blob(done.generatedIDs)
            sink.key(WireKey.stopReason); sink.string(done.stopReason.rawValue)
            sink.key(WireKey.promptTokens); sink.int(done.promptTokens)
            sink.key(WireKey.timings); sink.doubleMap(done.timings)
            sink.key(WireKey.fvu); sink.doubleMap(done.fvu)
        case .taskFailed(let failed):
            envelope(fieldCount: failed.handedBack ? 4 : 3)
            sink.key(WireKey.taskID); sink.uint(failed.taskID)
            sink.key(WireKey.attempt); sink.uint(UInt64(failed.attempt))
            sink.key(WireKey.reason); sink.string(failed.reason)
            if failed.handedBack { sink.key(WireKey.handedBack); sink.bool(true) }
        case .heartbeat(let heartbeat):
            envelope(fieldCount: 1)
            sink.key(WireKey.sequence); sink.uint(heartbeat.sequence)
        case .shutdown(let shutdown):
            envelope(fieldCount: 1)
            sink.key(WireKey.reason); sink.string(shutdown.reason)
        }
    }
}

/// The msgpack values messages are made of. Implemented twice: `SizeBound` (how many
/// bytes at most) and `MsgPackPacker` (msgpack-c writes them).
protocol MsgPackSink {
    mutating func map(_ count: Int)
    mutating func array(_ count: Int)
    mutating func key(_ key: FieldKey)
    mutating func string(_ value: String)
    mutating func uint(_ value: UInt64)
    mutating func int(_ value: Int)
    mutating func float(_ value: Float)
    mutating func double(_ value: Double)
    mutating func bool(_ value: Bool)
    /// Little-endian bytes of the elements as one `bin`.
    mutating func blob<Element: BlobElement>(_ values: [Element])
}

extension MsgPackSink {
    /// Keys sorted, so equal maps encode to equal bytes.
    mutating func doubleMap(_ values: [String: Double]) {
        map(values.count)
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            string(name)
            double(value)
        }
    }
}

/// Element types that travel as little-endian `bin` blobs.
protocol BlobElement {
    var littleEndianBits: UInt32 { get }
    init(littleEndianBits: UInt32)
}

extension Int32: BlobElement {
    var littleEndianBits: UInt32 { UInt32(bitPattern: self).littleEndian }
    init(littleEndianBits: UInt32) { self.init(bitPattern: UInt32(littleEndian: littleEndianBits)) }
}

extension Float: BlobElement {
    var littleEndianBits: UInt32 { bitPattern.littleEndian }
    init(littleEndianBits: UInt32) { self.init(bitPattern: UInt32(littleEndian: littleEndianBits)) }
}

/// Upper bound of the encoded size: each value at its widest msgpack form.
struct SizeBound: MsgPackSink {
    var bytes = 0

    mutating func map(_ count: Int) { bytes += 5 }
    mutating func array(_ count: Int) { bytes += 5 }
    mutating func key(_ key: FieldKey) { bytes += 1 + key.wire.utf8CodeUnitCount }
    mutating func string(_ value: String) { bytes += 5 + value.utf8.count }
    mutating func uint(_ value: UInt64) { bytes += 9 }
    mutating func int(_ value: Int) { bytes += 9 }
    mutating func float(_ value: Float) { bytes += 5 }
    mutating func double(_ value: Double) { bytes += 9 }
    mutating func bool(_ value: Bool) { bytes += 1 }
    mutating func blob<Element: BlobElement>(_ values: [Element]) { bytes += 5 + values.count * 4 }
}

/// Where msgpack-c's write callback puts bytes: a buffer sized by `SizeBound`.
struct OutputBuffer {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count: Int
}

/// msgpack-c's packer writing into an `OutputBuffer`.
struct MsgPackPacker: MsgPackSink {
    private var packer = msgpack_packer()

    init(output: UnsafeMutablePointer<OutputBuffer>) {
        msgpack_packer_init(&packer, output, { context, bytes, length in
            let output = context!.assumingMemoryBound(to: OutputBuffer.self)
            guard length <= output.pointee.capacity - output.pointee.count else { return -1 }
            if length > 0 {
                (output.pointee.base + output.pointee.count).update(
                    from: UnsafeRawPointer(bytes!).assumingMemoryBound(to: UInt8.self), count: length)
            }
            output.pointee.count += length
            return 0
        })
    }

    /// msgpack-c only fails when the write callback does, i.e. when `SizeBound` was too small:
    /// a bug in this file, not a property of the message.
    private func check(_ status: Int32) {
        precondition(status == 0, "msgpack encoding overran its size bound; SizeBound is wrong")
    }

    mutating func map(_ count: Int) { check(msgpack_pack_map(&packer, count)) }
    mutating func array(_ count: Int) { check(msgpack_pack_array(&packer, count)) }

    mutating func key(_ key: FieldKey) {
        check(msgpack_pack_str_with_body(&packer, key.wire.utf8Start, key.wire.utf8CodeUnitCount))
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            check(msgpack_pack_str_with_body(&packer, utf8.baseAddress, utf8.count))
        }
    }

    mutating func uint(_ value: UInt64) { check(msgpack_pack_uint64(&packer, value)) }
    mutating func int(_ value: Int) { check(msgpack_pack_int64(&packer, Int64(value))) }
    mutating func float(_ value: Float) { check(msgpack_pack_float(&packer, value)) }
    mutating func double(_ value: Double) { check(msgpack_pack_double(&packer, value)) }
    mutating func bool(_ value: Bool) { check(value ? msgpack_pack_true(&packer) : msgpack_pack_false(&packer)) }

    mutating func blob<Element: BlobElement>(_ values: [Element]) {
        let byteCount = values.count * 4
        check(msgpack_pack_bin(&packer, byteCount))
        #if _endian(little)
        values.withUnsafeBytes { bytes in
            check(msgpack_pack_bin_body(&packer, bytes.baseAddress, byteCount))
        }
        #else
        let swapped = values.map(\.littleEndianBits)
        swapped.withUnsafeBytes { bytes in
            check(msgpack_pack_bin_body(&packer, bytes.baseAddress, byteCount))
        }
        #endif
    }
}
