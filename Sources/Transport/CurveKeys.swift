import CZeroMQ

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A CURVE key pair as Z85 text (40 characters each). The server's public key is what
/// clients must be given; secret keys never leave their host.
public struct CurveKeyPair: Equatable, Sendable {
    public let publicKey: String
    public let secretKey: String

    /// A fresh key pair from libzmq (which needs libsodium; Debian's libzmq has it).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try retryingInterrupts("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: z85String(publicKey), secretKey: z85String(secretKey))
    }

    /// The pair belonging to a secret key (the public key is derived from it).
    public init(secretKey: String) throws(ZMQError) {
        guard Self.isValidZ85Key(secretKey) else {
            throw ZMQError(code: EINVAL, operation: "zmq_curve_public: secret key is not 40 Z85 characters")
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        try retryingInterrupts("zmq_curve_public") { zmq_curve_public(&publicKey, secretKey) }
        self.publicKey = Self.z85String(publicKey)
        self.secretKey = secretKey
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// 40 characters of the Z85 alphabet: the text form of a 32-byte key.
    public static func isValidZ85Key(_ text: String) -> Bool {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        let bytes = Array(text.utf8)
        return bytes.count == 40 && bytes.allSatisfy { alphabet.contains($0) }
    }

    private static func z85String(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Key files as `thinklens keygen` writes them: PREFIX.key holds the secret key (mode 0600),
/// PREFIX.pub the public key, each one line of Z85.
public enum CurveKeyFiles {
    public struct FileError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public static func secretKeyPath(prefix: String) -> String { prefix + ".key" }
    public static func publicKeyPath(prefix: String) -> String { prefix + ".pub" }

    /// Writes both files; refuses to overwrite either, so an existing identity is never lost.
    public static func write(_ keys: CurveKeyPair, prefix: String) throws(FileError) {
        let secretPath = secretKeyPath(prefix: prefix)
        let publicPath = publicKeyPath(prefix: prefix)
        for path in [secretPath, publicPath] where access(path, F_OK) == 0 {
            throw FileError(path: path, reason: "already exists; remove it or choose another --out prefix")
        }
        try writeNewFile(secretPath, contents: keys.secretKey + "\n", mode: 0o600)
        try writeNewFile(publicPath, contents: keys.publicKey + "\n", mode: 0o644)
    }

    /// The key pair from a secret key file (the public key is derived). Public and secret keys
    /// look alike (40 Z85 characters) and any such key derives a "public" one, so a public key
    /// file given by mistake would silently become a new identity: a `.pub` file, or a file
    /// holding the same key as the `.pub` beside it, is refused.
    public static func readKeyPair(secretKeyPath path: String) throws(FileError) -> CurveKeyPair {
        if path.hasSuffix(".pub") {
            throw FileError(path: path, reason: "is a public key file; pass the secret key file (PREFIX.key, written by 'thinklens keygen --out PREFIX')")
        }
        let text = try readKey(path)
        let sibling = (path.hasSuffix(".key") ? String(path.dropLast(4)) : path) + ".pub"
        if access(sibling, R_OK) == 0, let published = try? readKey(sibling), published == text {
            throw FileError(path: path, reason: "holds the same key as \(sibling), a public key; pass the secret key file")
        }
        do {
            return try CurveKeyPair(secretKey: text)
        } catch {
            throw FileError(path: path, reason: "not a CURVE secret key: \(error)")
        }
    }

    /// A public key (e.g. the coordinator's, given to workers).
    public static func readPublicKey(path: String) throws(FileError) -> String {
        try readKey(path)
    }

    private static func readKey(_ path: String) throws(FileError) -> String {
        guard let file = fopen(path, "r") else {
            throw FileError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else {
            throw FileError(path: path, reason: "is empty; expected one line with a 40-character Z85 key")
        }
        let line = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let key = String(line.filter { !$0.isWhitespace })
        guard CurveKeyPair.isValidZ85Key(key) else {
            throw FileError(path: path, reason: "does not hold a 40-character Z85 key (write one with 'thinklens keygen')")
        }
        return key
    }

    private static func writeNewFile(_ path: String, contents: String, mode: mode_t) throws(FileError) {
        // O_EXCL with the mode given at creation: the secret is never readable by others, not even briefly.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard descriptor >= 0 else {
            throw FileError(path: path, reason: "cannot create: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard writeAll(descriptor, Array(contents.utf8)) else {
            throw FileError(path: path, reason: "cannot write: \(String(cString: strerror(errno)))")
        }
    }
}

/// Outside `CurveKeyFiles`, whose own `write` would shadow the system call.
private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count
}
