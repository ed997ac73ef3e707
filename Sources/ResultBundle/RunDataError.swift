/// Bad run data or a file problem: names the thing (file, problem, hookpoint), says what failed and what to do.
public struct RunDataError: Error, CustomStringConvertible, Equatable {
    public let subject: String
    public let reason: String

    public init(subject: String, reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}
