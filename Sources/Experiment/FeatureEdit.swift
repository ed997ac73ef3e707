/// One intervention on one SAE feature during generation (`--intervene`): at every position it
/// is active, the activation `x` flowing out of `hookpoint` is encoded with that hookpoint's SAE
/// (its own top-k), `c` is the feature's latent there (0 when not in the top-k), the new value
/// `v` comes from `operation`, and `x' = x + (v − c) · W_dec[feature]` flows on. The SAE's
/// reconstruction error is kept, and `scale=1` leaves `x` bit for bit unchanged.
public struct FeatureEdit: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Operation: Equatable, Hashable, Sendable {
        /// v = 0
        case ablate
        /// v = V
        case clamp(Float)
        /// v = S · c
        case scale(Float)
        /// v = c + A
        case add(Float)

        /// The new latent value from the current one.
        @inlinable
        public func apply(to current: Float) -> Float {
            switch self {
            case .ablate: 0
            case .clamp(let value): value
            case .scale(let factor): factor * current
            case .add(let amount): current + amount
            }
        }

        /// "ablate", "clamp", "scale" or "add".
        public var name: String {
            switch self {
            case .ablate: "ablate"
            case .clamp: "clamp"
            case .scale: "scale"
            case .add: "add"
            }
        }

        /// The operation's number (nil for ablate).
        public var value: Float? {
            switch self {
            case .ablate: nil
            case .clamp(let v), .scale(let v), .add(let v): v
            }
        }

        /// Rebuilds an operation from its name and number, as the wire and conditions.json carry it.
        public init?(name: String, value: Float?) {
            switch (name, value) {
            case ("ablate", _): self = .ablate
            case ("clamp", let v?) where v.isFinite: self = .clamp(v)
            case ("scale", let v?) where v.isFinite: self = .scale(v)
            case ("add", let v?) where v.isFinite: self = .add(v)
            default: return nil
            }
        }
    }

    /// The SAE hookpoint (`layers.N.mlp` or `layers.N`): the SAE is `--sae DIR/<hookpoint>` and
    /// the edit acts on the activation flowing out of that capture point.
    public var hookpoint: String
    public var feature: Int
    public var operation: Operation
    /// Only at positions whose input is a generated token (`@generated`); by default at every
    /// position, prompt included.
    public var generatedOnly: Bool

    public init(hookpoint: String, feature: Int, operation: Operation, generatedOnly: Bool = false) {
        self.hookpoint = hookpoint
        self.feature = feature
        self.operation = operation
        self.generatedOnly = generatedOnly
    }

    /// The edit as written on the command line: `layers.10.mlp:6252:clamp=8@generated`.
    public var description: String {
        let op = operation.value.map { "\(operation.name)=\(Self.format($0))" } ?? operation.name
        return "\(hookpoint):\(feature):\(op)\(generatedOnly ? "@generated" : "")"
    }

    /// A float as short as it reads back exactly ("8", "0.5", "-2.25").
    static func format(_ value: Float) -> String {
        if value == value.rounded(), abs(value) < 1e7 { return String(Int(value)) }
        return "\(value)"
    }

    /// Parses `HOOKPOINT:FEATURE:OP[@generated]` with OP one of `ablate`, `clamp=V`, `scale=S`, `add=A`.
    public static func parse(_ text: String) throws(InterventionError) -> FeatureEdit {
        var body = Substring(text)
        var generatedOnly = false
        if body.hasSuffix("@generated") {
            generatedOnly = true
            body = body.dropLast("@generated".count)
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw InterventionError(text, "an edit is HOOKPOINT:FEATURE:OP[@generated], e.g. layers.10.mlp:6252:clamp=8")
        }
        let hookpoint = String(parts[0])
        guard Self.isHookpointName(hookpoint) else {
            throw InterventionError(text, "'\(hookpoint)' is not a hookpoint (layers.N or layers.N.mlp)")
        }
        guard let feature = Int(parts[1]), feature >= 0 else {
            throw InterventionError(text, "feature '\(parts[1])' is not a latent index (a whole number from 0)")
        }
        let opText = parts[2]
        let operation: Operation
        if opText == "ablate" {
            operation = .ablate
        } else if let equals = opText.firstIndex(of: "=") {
            let name = String(opText[..<equals])
            let numberText = String(opText[opText.index(after: equals)...])
            guard let number = Double(numberText) else {
                throw InterventionError(text, "'\(numberText)' is not a number")
            }
            let value = Float(number)
            guard number.isFinite, value.isFinite else {
                throw InterventionError(text, "'\(numberText)' is not a finite float32 number")
            }
            guard let parsed = Operation(name: name, value: value), name != "ablate" else {
                throw InterventionError(text, "unknown operation '\(name)' (ablate, clamp=V, scale=S, add=A)")
            }
            operation = parsed
        } else {
            throw InterventionError(text, "unknown operation '\(opText)' (ablate, clamp=V, scale=S, add=A)")
        }
        return FeatureEdit(hookpoint: hookpoint, feature: feature, operation: operation, generatedOnly: generatedOnly)
    }

    /// Parses `EDIT(+EDIT)*`.
    public static func parseList(_ text: String) throws(InterventionError) -> [FeatureEdit] {
        guard !text.isEmpty else { throw InterventionError(text, "no edits given") }
        var edits: [FeatureEdit] = []
        for part in text.split(separator: "+", omittingEmptySubsequences: false) {
            edits.append(try parse(String(part)))
        }
        return edits
    }

    /// `layers.N` or `layers.N.mlp`.
    static func isHookpointName(_ name: String) -> Bool {
        var rest = Substring(name)
        guard rest.hasPrefix("layers.") else { return false }
        rest = rest.dropFirst("layers.".count)
        if rest.hasSuffix(".mlp") { rest = rest.dropLast(".mlp".count) }
        return !rest.isEmpty && rest.allSatisfy(\.isASCII) && rest.allSatisfy(\.isNumber) && Int(rest) != nil
    }
}

extension FeatureEdit {
    /// The 0-based decoder layer the hookpoint belongs to (`layers.N` and `layers.N.mlp` give N);
    /// nil when `hookpoint` is not such a name (an edit built in code or read off the wire).
    public var layer: Int? {
        guard Self.isHookpointName(hookpoint) else { return nil }
        return Int(hookpoint.split(separator: ".")[1])
    }

    /// True for `layers.N.mlp` (the MLP's output), false for `layers.N` (the block's output).
    public var isMLPOutput: Bool { hookpoint.hasSuffix(".mlp") }

    /// Checks the edit against a model of `layerCount` layers and the SAEs at hand, before any
    /// work starts: the hookpoint must be inside the model, `latentCount(hookpoint)` (nil when no
    /// SAE for it was loaded) must exist and exceed the feature. `saeSource` names where the SAEs
    /// come from (`--sae DIR`) in the error.
    public func check(layerCount: Int, saeSource: String, latentCount: (String) -> Int?) throws(InterventionError) {
        guard let layer else {
            throw InterventionError(description, "'\(hookpoint)' is not a hookpoint (layers.N or layers.N.mlp)")
        }
        guard layer < layerCount else {
            throw InterventionError(description, "hookpoint \(hookpoint) is past the last layer \(layerCount - 1) of this \(layerCount)-layer model")
        }
        guard let latents = latentCount(hookpoint) else {
            throw InterventionError(description, "no SAE for \(hookpoint) in \(saeSource): it needs a \(hookpoint)/ folder with cfg.json and sae.safetensors")
        }
        guard feature < latents else {
            throw InterventionError(description, "feature \(feature) is past the last latent \(latents - 1) of the \(hookpoint) SAE (\(latents) latents)")
        }
    }
}

/// A named set of edits applied together: one condition of an intervention run. The baseline
/// is the condition without edits.
public struct InterventionCondition: Equatable, Sendable {
    public var name: String
    public var edits: [FeatureEdit]

    public init(name: String, edits: [FeatureEdit]) {
        self.name = name
        self.edits = edits
    }

    /// The name of the condition every run has.
    public static let baselineName = "baseline"

    /// Parses one `--intervene` argument: `NAME=EDITS`, where one edit's number may be a sweep
    /// `{a,b,c}` giving one condition per value, named `NAME@a`, `NAME@b`, … in the order written.
    public static func parse(_ argument: String) throws(InterventionError) -> [InterventionCondition] {
        guard let equals = argument.firstIndex(of: "=") else {
            throw InterventionError(argument, "--intervene takes NAME=EDITS, e.g. ablate-32456=layers.10.mlp:32456:ablate")
        }
        let name = String(argument[..<equals])
        let body = String(argument[argument.index(after: equals)...])
        try checkName(name, in: argument)
        guard let open = body.firstIndex(of: "{") else {
            if body.contains("}") { throw InterventionError(argument, "a '}' without its '{'") }
            return [InterventionCondition(name: name, edits: try FeatureEdit.parseList(body))]
        }
        guard let close = body[open...].firstIndex(of: "}") else {
            throw InterventionError(argument, "a sweep '{' without its '}'")
        }
        let after = body[body.index(after: close)...]
        guard !after.contains("{") && !after.contains("}") && !body[..<open].contains("}") else {
            throw InterventionError(argument, "one sweep {a,b,...} per --intervene")
        }
        let values = body[body.index(after: open)..<close].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else {
            throw InterventionError(argument, "a sweep lists values, e.g. {0,2,4,8}")
        }
        var conditions: [InterventionCondition] = []
        for value in values {
            let text = body[..<open] + value + after
            conditions.append(InterventionCondition(name: "\(name)@\(value)", edits: try FeatureEdit.parseList(String(text))))
        }
        return conditions
    }

    /// Parses every `--intervene` argument, refusing duplicate names (and the baseline's).
    public static func parseAll(_ arguments: [String]) throws(InterventionError) -> [InterventionCondition] {
        var all: [InterventionCondition] = []
        var seen: Set<String> = []
        for argument in arguments {
            for condition in try parse(argument) {
                guard seen.insert(condition.name).inserted else {
                    throw InterventionError(argument, "the condition name '\(condition.name)' is used twice")
                }
                all.append(condition)
            }
        }
        return all
    }

    /// A condition names a directory (`interventions/<NAME>/`): letters, digits, '.', '_', '-'
    /// and (from a sweep) '@'; not the baseline's.
    private static func checkName(_ name: String, in argument: String) throws(InterventionError) {
        guard !name.isEmpty else { throw InterventionError(argument, "the condition has no name (NAME=EDITS)") }
        guard name != baselineName else { throw InterventionError(argument, "'\(baselineName)' is the run without edits; choose another name") }
        guard !name.hasPrefix("."), name.unicodeScalars.allSatisfy({
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
        }) else {
            throw InterventionError(argument, "the name '\(name)' may hold only letters, digits, '.', '_' and '-' (it names a directory), not starting with '.'")
        }
    }
}

/// A bad `--intervene` argument or edit, naming the text and what is wrong.
public struct InterventionError: Error, Equatable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }
    public var description: String { "--intervene '\(text)': \(reason)" }
}
