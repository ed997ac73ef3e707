import Foundation

/// The tensors of a model directory: `model.safetensors`, or shards listed in
/// `model.safetensors.index.json` (`weight_map`: tensor name → shard file).
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let files: [SafeTensorsFile]
    private let owner: [String: SafeTensorsFile]

    public var tensorNames: Set<String> { Set(owner.keys) }

    public init(directory: String, singleFile: String = "model.safetensors", index: String = "model.safetensors.index.json") throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = (directory as NSString).appendingPathComponent(index)
        let singlePath = (directory as NSString).appendingPathComponent(singleFile)
        var files: [SafeTensorsFile] = []
        var owner: [String: SafeTensorsFile] = [:]
        if fm.fileExists(atPath: indexPath) {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
                throw SafeTensorsError(file: indexPath, reason: "cannot read: \(error.localizedDescription)")
            }
            guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let weightMap = root["weight_map"] as? [String: Any] else {
                throw SafeTensorsError(file: indexPath, reason: "not a JSON object with a 'weight_map' object")
            }
            var byShard: [String: SafeTensorsFile] = [:]
            for shard in Set(weightMap.values.compactMap { $0 as? String }).sorted() {
                guard !shard.contains("/") else {
                    throw SafeTensorsError(file: indexPath, reason: "shard name '\(shard)' must be a plain file name in the model directory")
                }
                let file = try SafeTensorsFile(path: (directory as NSString).appendingPathComponent(shard))
                byShard[shard] = file
                files.append(file)
            }
            for (name, value) in weightMap {
                guard let shard = value as? String, let file = byShard[shard] else {
                    throw SafeTensorsError(file: indexPath, tensor: name, reason: "weight_map entry is not a shard file name")
                }
                guard file.contains(name) else {
                    throw SafeTensorsError(file: file.path, tensor: name, reason: "listed in \(index) but missing from the shard")
                }
                owner[name] = file
            }
            // A tensor present in a shard but absent from the index would be silently ignored: refuse it.
            for file in files {
                for name in file.tensors.keys where owner[name] !== file {
                    throw SafeTensorsError(file: file.path, tensor: name, reason: owner[name] == nil ? "present in the shard but not listed in \(index)" : "present in more than one shard")
                }
            }
        } else if fm.fileExists(atPath: singlePath) {
            let file = try SafeTensorsFile(path: singlePath)
            files.append(file)
            for name in file.tensors.keys { owner[name] = file }
        } else {
            throw SafeTensorsError(file: directory, reason: "neither \(singleFile) nor \(index) is present; is this a Hugging Face model directory?")
        }
        self.files = files
        self.owner = owner
    }

    public func contains(_ name: String) -> Bool { owner[name] != nil }

    public func tensor(_ name: String) throws -> TensorView {
        guard let file = owner[name] else {
            throw SafeTensorsError(file: directory, tensor: name, reason: "not present in the checkpoint")
        }
        return try file.tensor(name)
    }

    public func tensor(_ name: String, shape: [Int], dtypes: Set<TensorDType>) throws -> TensorView {
        guard let file = owner[name] else {
            throw SafeTensorsError(file: directory, tensor: name, reason: "not present in the checkpoint")
        }
        return try file.tensor(name, shape: shape, dtypes: dtypes)
    }
}
