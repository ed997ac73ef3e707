import Experiment
import SafeTensors
import Tokenizer

/// A byte-level BPE tokenizer.json with no merges (every byte its own token, ids 0..<256) and
/// DeepSeek-R1's 22 added tokens after them: the same pipeline as DeepSeek-R1-Distill's own
/// file, small enough to write at test time. Shared by the run and coordinator tests.
public enum R1TokenizerFixture {
    public static let addedTokens = [
        "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>", "<think>", "</think>",
        "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
        "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    ]
    public static let vocabulary = 256 + addedTokens.count
    /// `<｜end▁of▁sentence｜>`
    public static let eos: Int32 = 256
    /// `</think>`
    public static let thinkEnd: Int32 = 262

    /// The tokenizer.json text.
    public static func json() -> String {
        var vocab: [String] = []
        for b in 0..<256 {
            vocab.append("\(JSONString.quoted(String(Character(ByteLevel.byteToScalar[b])))):\(b)")
        }
        var added: [String] = []
        for (i, token) in addedTokens.enumerated() {
            let special = !(token == "<think>" || token == "</think>")
            added.append(#"{"id":\#(256 + i),"content":\#(JSONString.quoted(token)),"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":\#(special)}"#)
            vocab.append("\(JSONString.quoted(token)):\(256 + i)")
        }
        let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"#
        return """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.joined(separator: ","))],\
        "normalizer":{"type":"NFC"},\
        "pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\(pattern)"},"behavior":"Isolated","invert":false},\
        {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]},\
        "post_processor":null,"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,\
        "byte_fallback":false,"ignore_merges":false,"vocab":{\(vocab.joined(separator: ","))},"merges":[]}}
        """
    }
}
