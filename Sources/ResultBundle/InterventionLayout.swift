import Foundation
import SafeTensors

/// Where an `--intervene` run keeps its conditions: OUT is the baseline's bundle as without
/// conditions, and OUT/interventions/ holds one complete bundle per condition (with its own
/// journal while the run goes on), `conditions.json`, and the paired tables computed from them.
public enum InterventionLayout {
    public static let directoryName = "interventions"
    public static let conditionsFile = "conditions.json"

    /// OUT/interventions
    public static func root(in out: String) -> String {
        (out as NSString).appendingPathComponent(directoryName)
    }

    /// OUT/interventions/<name>: the condition's bundle.
    public static func directory(of condition: String, in out: String) -> String {
        (root(in: out) as NSString).appendingPathComponent(condition)
    }

    /// Writes OUT/interventions/conditions.json: {"conditions": [each condition's JSON, in order]}.
    public static func writeConditions(_ conditions: [JSONValue], in out: String) throws {
        let path = (root(in: out) as NSString).appendingPathComponent(conditionsFile)
        let file = try AtomicFileWriter(path: path)
        try file.write(JSONValue.object(["conditions": .array(conditions)]).serialized(pretty: true) + "\n")
        try file.finish()
    }

    /// The condition names conditions.json lists, in order; nil when the bundle has none.
    public static func conditionNames(in bundle: String) throws -> [String]? {
        let path = (root(in: bundle) as NSString).appendingPathComponent(conditionsFile)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let root = try JSONValue.parse(data, source: path)
        guard let items = root["conditions"]?.arrayValue else {
            throw RunDataError(subject: path, reason: "has no 'conditions' array")
        }
        return try items.map { item in
            guard let name = item["name"]?.stringValue else { throw RunDataError(subject: path, reason: "a condition without a 'name'") }
            return name
        }
    }
}
