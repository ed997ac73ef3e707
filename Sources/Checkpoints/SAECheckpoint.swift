import Foundation
import SafeTensors

/// One hookpoint of a sparsify SAE checkpoint on disk: `CHECKPOINT/HOOKPOINT/cfg.json` and
/// `sae.safetensors`. Opening it checks that both files are there and names the one missing,
/// so a worker or coordinator pointed at the wrong folder says so before any work starts.
public struct SAECheckpoint {
    public let hookpoint: String
    public let directory: String
    public let config: SAEConfig
    public var configPath: String { (directory as NSString).appendingPathComponent("cfg.json") }
    public var weightsPath: String { (directory as NSString).appendingPathComponent("sae.safetensors") }

    /// `checkpoint/hookpoint/sae.safetensors`, without opening anything (for sizing memory).
    public static func weightsPath(checkpoint: String, hookpoint: String) -> String {
        ((checkpoint as NSString).appendingPathComponent(hookpoint) as NSString).appendingPathComponent("sae.safetensors")
    }

    public init(checkpoint: String, hookpoint: String) throws {
        let folder = (checkpoint as NSString).appendingPathComponent(hookpoint)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            let available = Self.hookpoints(in: checkpoint)
            let hint = available.isEmpty
                ? "the directory has no hookpoint folders with a cfg.json"
                : "available hookpoints: \(available.joined(separator: ", "))"
            throw SAEError(path: checkpoint, reason: "no folder for hookpoint '\(hookpoint)'; \(hint)")
        }
        try self.init(hookpointDirectory: folder, hookpoint: hookpoint)
    }

    public init(hookpointDirectory folder: String, hookpoint: String? = nil) throws {
        directory = folder
        self.hookpoint = hookpoint ?? (folder as NSString).lastPathComponent
        let cfg = (folder as NSString).appendingPathComponent("cfg.json")
        guard FileManager.default.fileExists(atPath: cfg) else {
            throw SAEError(path: cfg, reason: "missing: a sparsify hookpoint folder holds cfg.json and sae.safetensors")
        }
        config = try SAEConfig.load(path: cfg)
        let weights = (folder as NSString).appendingPathComponent("sae.safetensors")
        guard FileManager.default.fileExists(atPath: weights) else {
            throw SAEError(path: weights, reason: "missing: a sparsify hookpoint folder holds cfg.json and sae.safetensors")
        }
    }

    /// The mapped weights file.
    public func openWeights() throws -> SafeTensorsFile {
        do { return try SafeTensorsFile(path: weightsPath) } catch let error as SafeTensorsError {
            throw SAEError(path: weightsPath, reason: error.reason)
        }
    }

    /// See `SAEFingerprint`; reads only the sampled bytes of the mapped file.
    public func fingerprint() throws -> String {
        SAEFingerprint.compute(config: config, weights: try openWeights())
    }

    /// Folders that hold an `sae.safetensors` but no `cfg.json` (so `hookpoints(in:)` skips
    /// them): worth a warning, since a run that needs one will refuse the worker.
    public static func incompleteHookpoints(in checkpoint: String) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: checkpoint) else { return [] }
        return names.filter {
            let folder = (checkpoint as NSString).appendingPathComponent($0)
            return fm.fileExists(atPath: (folder as NSString).appendingPathComponent("sae.safetensors"))
                && !fm.fileExists(atPath: (folder as NSString).appendingPathComponent("cfg.json"))
        }.sorted()
    }

    /// Hookpoint folders (those with a cfg.json) in a checkpoint directory, sorted.
    public static func hookpoints(in checkpoint: String) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: checkpoint) else { return [] }
        return names.filter {
            fm.fileExists(atPath: ((checkpoint as NSString).appendingPathComponent($0) as NSString).appendingPathComponent("cfg.json"))
        }.sorted()
    }
}
