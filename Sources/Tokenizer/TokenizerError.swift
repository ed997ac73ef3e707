/// Why a tokenizer file could not be loaded; each names the file and the field or line.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    static func file(_ path: String, _ problem: String, fix: String? = nil) -> TokenizerError {
        TokenizerError("\(path): \(problem)" + (fix.map { "; \($0)" } ?? ""))
    }
}
