/// One (capture point, SAE) pair of a run: where hidden states are tapped and which SAE of the
/// checkpoint encodes them. Parsed once from the command line (`layers.10.mlp` or
/// `hidden_states.10=layers.10.mlp`), carried on the wire, named in the bundle; a worker turns
/// `capture` into the model's tap point.
public struct HookpointSpec: Hashable, Sendable {
    /// Module whose output is captured, e.g. "layers.10.mlp".
    public var capture: String
    /// The SAE (its hookpoint folder in the sparsify checkpoint) that encodes the capture.
    public var sae: String

    public init(capture: String, sae: String) {
        self.capture = capture
        self.sae = sae
    }

    /// What the bundle calls it: the SAE's hookpoint when both are the same, else `CAPTURE=SAE`.
    public var name: String { capture == sae ? sae : "\(capture)=\(sae)" }

    /// `layers.10.mlp` or `hidden_states.10=layers.10.mlp`.
    public init(parsing text: String) throws(HookpointSpecError) {
        let parts = Self.split(text, at: "=").map { $0.trimmingWhitespace() }
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw HookpointSpecError(text: text)
        }
        self.init(capture: parts[0], sae: parts.count == 2 ? parts[1] : parts[0])
    }

    /// A comma-separated list, as `--hookpoints` takes it.
    public static func parseList(_ text: String) throws(HookpointSpecError) -> [HookpointSpec] {
        var specs: [HookpointSpec] = []
        for part in split(text, at: ",") {
            specs.append(try HookpointSpec(parsing: String(part)))
        }
        return specs
    }

    /// Splits at every `separator` scalar. Not at Characters: a combining mark after ',' or '='
    /// makes one Character with it, which hid the separator from `String.split`.
    private static func split(_ text: String, at separator: Unicode.Scalar) -> [Substring] {
        text.unicodeScalars.split(separator: separator, omittingEmptySubsequences: false).map { Substring($0) }
    }
}

public struct HookpointSpecError: Error, CustomStringConvertible, Equatable {
    public let text: String
    public var description: String {
        "hookpoint '\(text)': expected HOOKPOINT or CAPTURE=SAE, e.g. layers.10.mlp or hidden_states.10=layers.10.mlp"
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace (Character.isWhitespace), without Foundation.
    public func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
