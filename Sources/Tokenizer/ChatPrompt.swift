/// DeepSeek-R1's chat format for one user turn:
/// `<｜begin▁of▁sentence｜><｜User｜>` + question + suffix + `<｜Assistant｜>` [+ `<think>\n`].
public struct ChatPrompt: Sendable, Equatable {
    public static let beginOfSentence = "<｜begin▁of▁sentence｜>"
    public static let user = "<｜User｜>"
    public static let assistant = "<｜Assistant｜>"
    public static let thinkStart = "<think>"
    public static let thinkEnd = "</think>"
    /// The instruction the study appends to every question.
    public static let defaultSuffix = " Please reason step by step in a few words, and put your final answer within \\boxed{}"

    /// Appended to the question, before `<｜Assistant｜>`.
    public var suffix: String
    /// Start the answer with `<think>\n`, as DeepSeek's newer chat template does.
    public var thinkPrefix: Bool
    /// A whole prompt with a `{question}` placeholder (`--prompt-template FILE`), special tokens
    /// spelled out, to reproduce another study's prompt exactly; nil for the DeepSeek-R1 format
    /// above. When set, `suffix` and `thinkPrefix` are not used.
    public var template: String?

    public static let questionPlaceholder = "{question}"

    public init(suffix: String = ChatPrompt.defaultSuffix, thinkPrefix: Bool = false) {
        self.suffix = suffix
        self.thinkPrefix = thinkPrefix
    }

    /// A prompt from a template; it must hold `{question}`.
    public init(template: String) {
        self.init()
        self.template = template
    }

    public func text(for question: String) -> String {
        if let template { return template.replacingOccurrences(of: ChatPrompt.questionPlaceholder, with: question) }
        return ChatPrompt.beginOfSentence + ChatPrompt.user + question + suffix + ChatPrompt.assistant
            + (thinkPrefix ? ChatPrompt.thinkStart + "\n" : "")
    }

    public func ids(for question: String, tokenizer: BPETokenizer) -> [Int32] {
        tokenizer.encode(text(for: question))
    }

    /// Index of the first `</think>` in generated ids (the end of the reasoning), or nil
    /// when the model never closed its thinking (e.g. cut at max_new_tokens).
    public static func thinkEndIndex(in generated: [Int32], tokenizer: BPETokenizer) -> Int? {
        guard let thinkEndID = tokenizer.id(forToken: thinkEnd) else { return nil }
        return generated.firstIndex(of: thinkEndID)
    }
}

extension BPETokenizer {
    /// Id of `</think>`, when the vocabulary has it.
    public var thinkEndID: Int32? { id(forToken: ChatPrompt.thinkEnd) }
}
