import Foundation

/// The activation a sparse coder applies after its encoder (sparsify's `activation`).
public enum SAEActivation: String, Codable, Sendable {
    /// ReLU, then the k largest latents.
    case topk
    /// ReLU, then the largest latent of each of k equal, consecutive groups.
    case groupmax
}

/// Something wrong with an SAE checkpoint or its use; names the file or hookpoint and says what to do.
public struct SAEError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Mirrors a sparsify `cfg.json` (`SparseCoderConfig` plus `d_in`). Keys absent from the
/// file take sparsify's defaults; keys we do not know are ignored, as sparsify does
/// (`from_dict(..., drop_extra_fields=True)`).
public struct SAEConfig: Codable, Sendable, Equatable {
    public var dIn: Int
    /// As written in the file; 0 means "use expansionFactor".
    public var numLatentsField: Int
    public var expansionFactor: Int
    public var k: Int
    public var activation: String
    public var normalizeDecoder: Bool
    public var multiTopK: Bool
    public var skipConnection: Bool
    public var transcode: Bool

    enum CodingKeys: String, CodingKey {
        case dIn = "d_in"
        case numLatentsField = "num_latents"
        case expansionFactor = "expansion_factor"
        case k
        case activation
        case normalizeDecoder = "normalize_decoder"
        case multiTopK = "multi_topk"
        case skipConnection = "skip_connection"
        case transcode
    }

    public init(dIn: Int, numLatents: Int = 0, expansionFactor: Int = 32, k: Int = 32,
                activation: String = "topk", normalizeDecoder: Bool = true, multiTopK: Bool = false,
                skipConnection: Bool = false, transcode: Bool = false) {
        self.dIn = dIn
        self.numLatentsField = numLatents
        self.expansionFactor = expansionFactor
        self.k = k
        self.activation = activation
        self.normalizeDecoder = normalizeDecoder
        self.multiTopK = multiTopK
        self.skipConnection = skipConnection
        self.transcode = transcode
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dIn = try c.decode(Int.self, forKey: .dIn)
        numLatentsField = try c.decodeIfPresent(Int.self, forKey: .numLatentsField) ?? 0
        expansionFactor = try c.decodeIfPresent(Int.self, forKey: .expansionFactor) ?? 32
        k = try c.decodeIfPresent(Int.self, forKey: .k) ?? 32
        activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? "topk"
        normalizeDecoder = try c.decodeIfPresent(Bool.self, forKey: .normalizeDecoder) ?? true
        multiTopK = try c.decodeIfPresent(Bool.self, forKey: .multiTopK) ?? false
        skipConnection = try c.decodeIfPresent(Bool.self, forKey: .skipConnection) ?? false
        transcode = try c.decodeIfPresent(Bool.self, forKey: .transcode) ?? false
    }

    /// sparsify: `cfg.num_latents or d_in * cfg.expansion_factor` (Int.max when that product
    /// overflows, which `validate` refuses).
    public var numLatents: Int {
        if numLatentsField != 0 { return numLatentsField }
        let (product, overflow) = dIn.multipliedReportingOverflow(by: expansionFactor)
        return overflow ? .max : product
    }

    /// Reads and validates `cfg.json`; every refusal names the file and the field.
    public static func load(path: String) throws -> SAEConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SAEError(path: path, reason: "cannot read: \(error.localizedDescription); a sparsify hookpoint folder holds cfg.json and sae.safetensors")
        }
        let config: SAEConfig
        do { config = try JSONDecoder().decode(SAEConfig.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw SAEError(path: path, reason: "missing required field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw SAEError(path: path, reason: "field '\(field)' has the wrong type: \(context.debugDescription)")
        } catch {
            throw SAEError(path: path, reason: "not a valid sparsify cfg.json: \(error)")
        }
        try config.validate(path: path)
        return config
    }

    /// The refusals that need only the config.
    public func validate(path: String) throws {
        guard dIn > 0 else { throw SAEError(path: path, reason: "d_in is \(dIn); it must be positive") }
        guard numLatentsField >= 0, expansionFactor >= 0 else {
            throw SAEError(path: path, reason: "num_latents \(numLatentsField) / expansion_factor \(expansionFactor) must not be negative")
        }
        if numLatentsField == 0, dIn.multipliedReportingOverflow(by: expansionFactor).overflow {
            throw SAEError(path: path, reason: "num_latents is 0 and d_in \(dIn) × expansion_factor \(expansionFactor) overflows")
        }
        guard numLatents > 0 else {
            throw SAEError(path: path, reason: "num_latents is 0 and expansion_factor is 0: the SAE has no latents")
        }
        guard numLatents <= Int(Int32.max) else {
            throw SAEError(path: path, reason: "num_latents \(numLatents) does not fit int32 latent indices")
        }
        guard k > 0 else { throw SAEError(path: path, reason: "k is \(k); it must be positive") }
        guard k <= numLatents else {
            throw SAEError(path: path, reason: "k = \(k) is larger than num_latents = \(numLatents)")
        }
        guard let kind = SAEActivation(rawValue: activation) else {
            throw SAEError(path: path, reason: "activation '\(activation)' is not supported (only 'topk' and 'groupmax')")
        }
        if kind == .groupmax, numLatents % k != 0 {
            throw SAEError(path: path, reason: "groupmax needs num_latents (\(numLatents)) to be a multiple of k (\(k))")
        }
        if transcode {
            throw SAEError(path: path, reason: "transcode is true: this is a transcoder (it predicts a module's output from its input, without subtracting b_dec), not an autoencoder of the hookpoint's activations; use an SAE checkpoint")
        }
    }

    public var activationKind: SAEActivation { SAEActivation(rawValue: activation) ?? .topk }
}
