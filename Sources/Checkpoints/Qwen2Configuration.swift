import Experiment
import Foundation

/// A model directory that ThinkLens cannot load as asked; names the file and the field or tensor.
public struct ModelLoadError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

/// `config.json` of a Hugging Face Qwen2 checkpoint. Missing optional keys take the values
/// transformers' `Qwen2Config` would give them; keys ThinkLens cannot honour are refused by
/// `validate(file:)`.
public struct Qwen2Configuration: Codable, Sendable, Equatable {
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int?
    public var hiddenAct: String
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var useSlidingWindow: Bool
    /// Set when config.json has a non-null `rope_scaling`, or `rope_parameters` with a rope type other than "default".
    public var ropeScalingDescription: String?
    /// transformers 5 `layer_types`; anything but "full_attention" is refused.
    public var layerTypes: [String]?
    /// `torch_dtype` (transformers 4) or `dtype` (transformers 5): the checkpoint's declared dtype, informational.
    public var torchDtype: String?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case hiddenAct = "hidden_act"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case useSlidingWindow = "use_sliding_window"
        case ropeScalingDescription = "rope_scaling"
        case layerTypes = "layer_types"
        case torchDtype = "torch_dtype"
    }

    enum ExtraKeys: String, CodingKey {
        case ropeParameters = "rope_parameters"
        case dtype
    }

    struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var ropeType: String?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
        }
    }

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
        numAttentionHeads: Int, numKeyValueHeads: Int, rmsNormEps: Double = 1e-6, ropeTheta: Double = 10000,
        maxPositionEmbeddings: Int = 32768, tieWordEmbeddings: Bool = false
    ) {
        self.modelType = "qwen2"
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = nil
        self.hiddenAct = "silu"
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.useSlidingWindow = false
        self.ropeScalingDescription = nil
        self.layerTypes = nil
        self.torchDtype = nil
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let extra = try decoder.container(keyedBy: ExtraKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? ""
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 151936
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 4096
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 22016
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 32
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 32768
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
        layerTypes = try c.decodeIfPresent([String].self, forKey: .layerTypes)
        torchDtype = try c.decodeIfPresent(String.self, forKey: .torchDtype)
            ?? extra.decodeIfPresent(String.self, forKey: .dtype)

        var theta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        var scaling: String?
        if c.contains(.ropeScalingDescription), try !c.decodeNil(forKey: .ropeScalingDescription) {
            scaling = "rope_scaling is set"
        }
        if let parameters = try extra.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters) {
            theta = theta ?? parameters.ropeTheta
            if let type = parameters.ropeType, type != "default" {
                scaling = "rope_parameters.rope_type is '\(type)'"
            }
        }
        ropeTheta = theta ?? 10000
        ropeScalingDescription = scaling
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encodeIfPresent(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(useSlidingWindow, forKey: .useSlidingWindow)
        try c.encodeIfPresent(layerTypes, forKey: .layerTypes)
        try c.encodeIfPresent(torchDtype, forKey: .torchDtype)
    }

    /// Size of one attention head.
    public var attentionHeadDim: Int { hiddenSize / max(numAttentionHeads, 1) }
    public var queryWidth: Int { numAttentionHeads * attentionHeadDim }
    public var keyValueWidth: Int { numKeyValueHeads * attentionHeadDim }

    /// Reads and validates `config.json`.
    public static func load(contentsOf path: String) throws -> Qwen2Configuration {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelLoadError(file: path, reason: "cannot read: \(error.localizedDescription)")
        }
        let config: Qwen2Configuration
        do { config = try JSONDecoder().decode(Qwen2Configuration.self, from: data) } catch let DecodingError.typeMismatch(_, context) {
            throw ModelLoadError(file: path, reason: "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type: \(context.debugDescription)")
        } catch {
            throw ModelLoadError(file: path, reason: "not a valid config.json: \(error)")
        }
        try config.validate(file: path)
        return config
    }

    /// Refuses configurations the engine would silently get wrong.
    public func validate(file: String) throws {
        func refuse(_ reason: String) -> ModelLoadError { ModelLoadError(file: file, reason: reason) }
        guard modelType == "qwen2" else {
            throw refuse("model_type is '\(modelType)', but only 'qwen2' (e.g. DeepSeek-R1-Distill-Qwen) is supported")
        }
        if let ropeScalingDescription {
            throw refuse("\(ropeScalingDescription): only plain rotary embeddings are implemented; remove rope_scaling or use a model without it")
        }
        guard !useSlidingWindow else {
            throw refuse("use_sliding_window is true: sliding-window attention is not implemented; set it to false only if the model was trained without it")
        }
        if let layerTypes, let other = layerTypes.first(where: { $0 != "full_attention" }) {
            throw refuse("layer_types contains '\(other)': only full_attention layers are implemented")
        }
        guard hiddenAct == "silu" else { throw refuse("hidden_act is '\(hiddenAct)', only 'silu' is implemented") }
        for (name, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                              ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                              ("num_key_value_heads", numKeyValueHeads)] where value <= 0 {
            throw refuse("\(name) is \(value), must be positive")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw refuse("hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        if let headDim, headDim != hiddenSize / numAttentionHeads {
            throw refuse("head_dim \(headDim) differs from hidden_size / num_attention_heads = \(hiddenSize / numAttentionHeads); only that layout is implemented")
        }
        guard attentionHeadDim % 2 == 0 else { throw refuse("head dimension \(attentionHeadDim) is odd; rotary embedding needs an even size") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw refuse("num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard rmsNormEps > 0, ropeTheta > 0 else { throw refuse("rms_norm_eps and rope_theta must be positive") }
    }
}

/// `generation_config.json`: how Hugging Face `generate` samples from this model by default.
/// Keys left out take transformers' defaults (greedy, temperature 1, top_k 50, top_p 1).
public struct GenerationConfiguration: Codable, Sendable, Equatable {
    public var doSample: Bool
    public var temperature: Double
    public var topP: Double
    public var topK: Int
    public var bosTokenID: Int?
    /// Generation stops at any of these.
    public var eosTokenIDs: [Int]

    enum CodingKeys: String, CodingKey {
        case doSample = "do_sample"
        case temperature
        case topP = "top_p"
        case topK = "top_k"
        case bosTokenID = "bos_token_id"
        case eosTokenIDs = "eos_token_id"
    }

    public init(doSample: Bool = false, temperature: Double = 1, topP: Double = 1, topK: Int = 50, bosTokenID: Int? = nil, eosTokenIDs: [Int] = []) {
        self.doSample = doSample
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        doSample = try c.decodeIfPresent(Bool.self, forKey: .doSample) ?? false
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? 1
        topP = try c.decodeIfPresent(Double.self, forKey: .topP) ?? 1
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? 50
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        // eos_token_id may be one id or a list of ids.
        if let list = try? c.decodeIfPresent([Int].self, forKey: .eosTokenIDs) {
            eosTokenIDs = list
        } else {
            eosTokenIDs = try c.decodeIfPresent(Int.self, forKey: .eosTokenIDs).map { [$0] } ?? []
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(doSample, forKey: .doSample)
        try c.encode(temperature, forKey: .temperature)
        try c.encode(topP, forKey: .topP)
        try c.encode(topK, forKey: .topK)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenIDs, forKey: .eosTokenIDs)
    }

    /// Reads `generation_config.json`; a directory without one gets transformers' defaults.
    public static func load(contentsOf path: String) throws -> GenerationConfiguration {
        guard FileManager.default.fileExists(atPath: path) else { return GenerationConfiguration() }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let config = try JSONDecoder().decode(GenerationConfiguration.self, from: data)
            guard config.temperature >= 0 else { throw ModelLoadError(file: path, reason: "temperature \(config.temperature) is negative") }
            guard config.topP > 0, config.topP <= 1 else { throw ModelLoadError(file: path, reason: "top_p \(config.topP) is not in (0, 1]") }
            guard config.topK >= 0 else { throw ModelLoadError(file: path, reason: "top_k \(config.topK) is negative") }
            return config
        } catch let error as ModelLoadError {
            throw error
        } catch {
            throw ModelLoadError(file: path, reason: "not a valid generation_config.json: \(error)")
        }
    }

    /// The sampling defaults this file sets (see `SamplingParameters.resolve`).
    public var samplingDefaults: SamplingDefaults {
        SamplingDefaults(doSample: doSample, temperature: temperature, topP: topP, topK: topK)
    }
}
