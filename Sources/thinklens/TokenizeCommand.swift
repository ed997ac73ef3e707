import SafeTensors
import ArgumentParser
import Compute
import Foundation
import Tokenizer

/// `thinklens tokenize`: the tokenizer in bulk for other tools. One JSON value per line in,
/// one per line out, so a line's answer is on the same line number.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize JSON strings (one per line) with a model's tokenizer.",
        discussion: "Reads one JSON string per line on stdin and prints one JSON array of token ids per line "
            + "(no BOS is added; --chat spells it out). --chat wraps each string in DeepSeek-R1's chat format "
            + "first. --decode reads JSON arrays of ids instead and prints JSON strings; unknown ids are skipped."
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Model directory (its tokenizer.json) or a tokenizer.json file.")
    var model: String

    @Flag(name: .long, help: "Wrap each string in the DeepSeek-R1 chat prompt before tokenizing.")
    var chat = false

    @Option(name: .long, help: "Instruction appended to each question with --chat.")
    var suffix: String = ChatPrompt.defaultSuffix

    @Flag(name: .long, help: "With --chat, end the prompt with '<think>\\n'.")
    var thinkPrefix = false

    @Flag(name: .long, help: "Read JSON arrays of ids and print the decoded JSON strings.")
    var decode = false

    @Flag(name: .long, help: "With --decode, drop special tokens.")
    var skipSpecialTokens = false

    func validate() throws {
        if decode && chat { throw ValidationError("--chat and --decode cannot be combined") }
    }

    func run() throws {
        _ = global.bootstrapLogging()
        let tokenizer: BPETokenizer
        do {
            tokenizer = try BPETokenizer.load(modelDirectoryOrFile: model)
        } catch {
            throw TokenizeCommandError(description: "--model: \(error)")
        }
        let prompt = ChatPrompt(suffix: suffix, thinkPrefix: thinkPrefix)
        var lineNumber = 0
        var output = ""
        // Lines answered before a bad line still reach stdout.
        defer { FileHandle.standardOutput.write(Data(output.utf8)) }
        // JSONDecoder, not JSONSerialization: the latter drops a raw U+FEFF that starts a string.
        let decoder = JSONDecoder()
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if decode {
                guard let ids = try? decoder.decode([Int32].self, from: Data(line.utf8)) else {
                    throw TokenizeCommandError(description: "stdin line \(lineNumber): expected a JSON array of token ids, got \(line.prefix(60))")
                }
                output += JSONString.quoted(tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens))
            } else {
                guard let text = try? decoder.decode(String.self, from: Data(line.utf8)) else {
                    throw TokenizeCommandError(description: "stdin line \(lineNumber): expected a JSON string, got \(line.prefix(60))")
                }
                let ids = chat ? prompt.ids(for: text, tokenizer: tokenizer) : tokenizer.encode(text)
                output += "[" + ids.map { String($0) }.joined(separator: ",") + "]"
            }
            output += "\n"
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
        }
    }
}

struct TokenizeCommandError: Error, CustomStringConvertible {
    let description: String
}

