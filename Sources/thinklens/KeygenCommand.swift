import ArgumentParser
import Transport

/// `thinklens keygen --out PREFIX`: a CURVE key pair for the coordinator (or a worker).
/// The coordinator keeps PREFIX.key; workers are given PREFIX.pub.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public).",
        discussion: "Give PREFIX.pub to the workers and keep PREFIX.key on the coordinator. Existing files are never overwritten."
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Path prefix of the key files, e.g. keys/coordinator.")
    var out: String

    func run() throws {
        let logger = global.bootstrapLogging()
        guard !out.isEmpty else { throw ValidationError("--out must name a path prefix, e.g. keys/coordinator") }
        let keys: CurveKeyPair
        do {
            keys = try CurveKeyPair.generate()
        } catch {
            throw KeygenError(description: "cannot generate a CURVE key pair: \(error); this libzmq may lack CURVE support (libsodium)")
        }
        do {
            try CurveKeyFiles.write(keys, prefix: out)
        } catch {
            throw KeygenError(description: "cannot write the key pair: \(error)")
        }
        logger.info("wrote \(CurveKeyFiles.secretKeyPath(prefix: out)) (secret) and \(CurveKeyFiles.publicKeyPath(prefix: out)) (public)")
        print(keys.publicKey)
    }
}

struct KeygenError: Error, CustomStringConvertible {
    let description: String
}
