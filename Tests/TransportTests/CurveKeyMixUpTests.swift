import Foundation
import Testing
import TestSupport
@testable import Transport

/// A public key passed where the secret key belongs is refused, not taken as a new identity
/// (the hardening issue's defect 5).
@Suite struct CurveKeyMixUpTests {
    @Test func aPubFileIsNotASecretKey() throws {
        let directory = TemporaryDirectory("curve-mixup")
        let prefix = directory.file("coordinator")
        try CurveKeyFiles.write(try CurveKeyPair.generate(), prefix: prefix)
        let error = #expect(throws: CurveKeyFiles.FileError.self) { try CurveKeyFiles.readKeyPair(secretKeyPath: prefix + ".pub") }
        #expect(error?.reason.contains("public key file") == true)
    }

    @Test func aCopyOfThePublicKeyUnderAnotherNameIsRefused() throws {
        let directory = TemporaryDirectory("curve-mixup")
        let prefix = directory.file("worker")
        let keys = try CurveKeyPair.generate()
        try CurveKeyFiles.write(keys, prefix: prefix)
        // worker.key overwritten with the public key, as a copy-paste slip would do.
        try (keys.publicKey + "\n").write(toFile: prefix + ".key", atomically: true, encoding: .utf8)
        let error = #expect(throws: CurveKeyFiles.FileError.self) { try CurveKeyFiles.readKeyPair(secretKeyPath: prefix + ".key") }
        #expect(error?.reason.contains("same key as") == true)
    }
}
