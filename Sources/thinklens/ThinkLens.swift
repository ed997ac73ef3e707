import ArgumentParser
import Logging
import Protocol

@main
struct ThinkLens: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thinklens",
        abstract: "Find the features a reasoning model uses: distributed generation + k-SAE encoding over ZeroMQ.",
        version: ThinkLensVersion.program,
        subcommands: [
            GenerateCommand.self,
            EncodeCommand.self,
            TokenizeCommand.self,
            CoordinatorCommand.self,
            WorkerCommand.self,
            RunCommand.self,
            MergeCommand.self,
            AnalyzeCommand.self,
            ExportCommand.self,
            ReportCommand.self,
            FeaturesCommand.self,
            FeatureCommand.self,
            InterventionsCommand.self,
            GradeCommand.self,
            KeygenCommand.self,
            BenchCommand.self,
        ]
    )
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sends log lines to stderr at the chosen level; stdout stays for data.
    func bootstrapLogging() -> Logger {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "thinklens")
        logger.logLevel = level
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    static func once(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
