import Checkpoints
import Experiment
import Foundation

/// The memory the engine will need on one machine, worked out from the model's dimensions
/// before anything is allocated, so a process can say what it needs at start and refuse,
/// before any work, a configuration that cannot fit.
///
/// Weights (model and SAEs) are memory-mapped read-only, so every engine process on the machine
/// shares one copy through the page cache; each process adds its own KV cache (every slot at the
/// longest context) and forward-pass workspace.
public struct MemoryPlan: Equatable, Sendable {
    /// Bytes of the mapped weight files: the model's safetensors plus the SAEs in use.
    public var weightBytes: Int
    /// Sequences each process generates together (batch slots).
    public var slots: Int
    /// Positions each slot holds: the longest prompt plus max_new_tokens.
    public var contextTokens: Int
    /// The KV cache's format (`--kv-cache`).
    public var kvCache: KVCacheDType
    /// One position of one sequence over all layers, in `kvCache`'s format (see `KVCache.bytesPerToken`).
    public var kvCacheBytesPerToken: Int
    /// One process's forward-pass working buffers (see `Qwen2Workspace.workingByteCount`).
    public var workspaceBytes: Int
    /// Engine processes on the machine (local workers), sharing the weights.
    public var processes: Int

    /// - Parameter prefillChunk: prompt positions a step adds (the workspace holds
    ///   `slots + prefillChunk` rows, as `Generator` sizes it).
    public init(config: Qwen2Configuration, weightBytes: Int, slots: Int, contextTokens: Int,
                prefillChunk: Int = Generator.defaultPrefillChunk, processes: Int = 1, kvCache: KVCacheDType = .standard) {
        precondition(slots >= 1 && contextTokens >= 1 && processes >= 1)
        self.weightBytes = weightBytes
        self.slots = slots
        self.contextTokens = contextTokens
        self.processes = processes
        self.kvCache = kvCache
        kvCacheBytesPerToken = KVCache.bytesPerToken(config: config, dtype: kvCache)
        workspaceBytes = Qwen2Workspace.workingByteCount(config: config, maxRows: slots + prefillChunk, slots: slots, capacity: contextTokens)
    }

    /// One process's KV cache: every slot at the full context.
    public var kvCacheBytes: Int { slots * contextTokens * kvCacheBytesPerToken }
    /// What one process adds to the shared weights.
    public var perProcessBytes: Int { kvCacheBytes + workspaceBytes }
    public var totalBytes: Int { weightBytes + processes * perProcessBytes }

    /// The one log line a process prints at start.
    public var summary: String {
        let each = processes > 1 ? " per process × \(processes) processes" : ""
        return "memory needed: \(Self.gigabytes(totalBytes)) = weights \(Self.gigabytes(weightBytes)) (mapped, shared) + (KV cache \(Self.gigabytes(kvCacheBytes)) [\(slots) slots × \(contextTokens) tokens × \(kvCacheBytesPerToken) B/token, \(kvCache.longName)] + workspace \(Self.gigabytes(workspaceBytes)))\(each)"
    }

    /// Throws when `totalBytes` exceeds `availableBytes` (the machine's MemAvailable), naming the
    /// numbers and the largest batch and context that would fit. nil (unknown) passes.
    public func check(availableBytes: Int?) throws(MemoryPlanError) {
        guard let availableBytes, totalBytes > availableBytes else { return }
        var advice: [String] = []
        let room = availableBytes - weightBytes
        if room > 0 {
            let perSlot = contextTokens * kvCacheBytesPerToken
            // The workspace barely depends on the slot count; keep today's as the estimate.
            let slotsThatFit = (room / processes - workspaceBytes) / perSlot
            if slotsThatFit >= 1 {
                advice.append("at most --batch \(slotsThatFit) fits at this context")
            }
            let tokensThatFit = (room / processes - workspaceBytes) / (slots * kvCacheBytesPerToken)
            if tokensThatFit >= 1 {
                advice.append("at --batch \(slots) at most \(tokensThatFit) context tokens (prompt + --max-new-tokens) fit")
            }
        }
        throw MemoryPlanError(plan: self, availableBytes: availableBytes, advice: advice)
    }

    static func gigabytes(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }

    /// Sum of the sizes of these files (the weights to be mapped); a missing file counts 0,
    /// since loading it reports the real error. Symbolic links count as what they point to
    /// (Hugging Face's cache links every model file to a blob).
    public static func fileBytes(_ paths: [String]) -> Int {
        paths.reduce(0) { total, path in
            let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            let attributes = try? FileManager.default.attributesOfItem(atPath: target)
            return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }

    /// The weight files of a Hugging Face model directory: model.safetensors or its shards
    /// (model-00001-of-00002.safetensors, ...).
    public static func modelWeightFiles(directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("model") && $0.hasSuffix(".safetensors") }.sorted().map { (directory as NSString).appendingPathComponent($0) }
    }
}

/// A configuration whose memory does not fit the machine, refused before any work.
public struct MemoryPlanError: Error, CustomStringConvertible, Equatable {
    public let plan: MemoryPlan
    public let availableBytes: Int
    public let advice: [String]

    public var description: String {
        let what = advice.isEmpty ? "the weights alone do not fit: use a machine with more memory" : advice.joined(separator: "; ")
        var remedies = plan.slots > 1 ? ["fewer --batch slots"] : []
        remedies.append("a smaller --max-new-tokens")
        if plan.processes > 1 { remedies.append("fewer --workers") }
        return "not enough memory: \(plan.summary); the machine has \(MemoryPlan.gigabytes(availableBytes)) available (MemAvailable in /proc/meminfo). Use \(remedies.joined(separator: " or ")) (\(what))."
    }
}
