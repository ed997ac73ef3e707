import Protocol
import Testing
import TestSupport
import Transport

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

@Suite("CURVE security")
struct CurveTests {
    private func curveServer(_ context: ZMQContext, keys: CurveKeyPair) throws -> (ZMQSocket, String) {
        let router = try ZMQSocket(context, kind: .router)
        try router.setCurveServer(keys)
        return (router, try router.bind("tcp://127.0.0.1:*"))
    }

    private func curveClient(_ context: ZMQContext, serverKey: String, endpoint: String) throws -> ZMQSocket {
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.setCurveClient(serverPublicKey: serverKey, keys: try CurveKeyPair.generate())
        try dealer.connect(endpoint)
        return dealer
    }

    @Test("A client holding the server's public key exchanges messages both ways")
    func rightServerKeyExchanges() throws {
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate()
        let (router, endpoint) = try curveServer(context, keys: serverKeys)
        let dealer = try curveClient(context, serverKey: serverKeys.publicKey, endpoint: endpoint)

        let credit = Message.credit(Credit(count: 3))
        try dealer.send([credit.encode()])
        let frames = try #require(try receive(router))
        #expect(try decode(frames[1]) == credit)
        let shutdown = Message.shutdown(Shutdown(reason: "done"))
        try router.send([frames[0].bytes, shutdown.encode()])
        #expect(try decode(try #require(try receive(dealer))[0]) == shutdown)
    }

    @Test("A client holding the wrong server key exchanges nothing")
    func wrongServerKeyExchangesNothing() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try curveServer(context, keys: try CurveKeyPair.generate())
        let impostorKey = try CurveKeyPair.generate().publicKey
        let dealer = try curveClient(context, serverKey: impostorKey, endpoint: endpoint)

        _ = try dealer.send([Message.credit(Credit(count: 3)).encode()], mode: .nonBlocking)
        #expect(try drain(router, forMilliseconds: silenceMilliseconds).isEmpty)
        #expect(try receive(dealer, withinMilliseconds: 100) == nil)
    }

    @Test("A plain-text client gets nothing through to a CURVE server")
    func plainClientExchangesNothing() throws {
        let context = try ZMQContext()
        let (router, endpoint) = try curveServer(context, keys: try CurveKeyPair.generate())
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.connect(endpoint)
        _ = try dealer.send([Message.credit(Credit(count: 1)).encode()], mode: .nonBlocking)
        #expect(try drain(router, forMilliseconds: silenceMilliseconds).isEmpty)
    }

    @Test("Generated keys are 40 Z85 characters and the public key derives from the secret")
    func generatedKeysAreZ85() throws {
        let keys = try CurveKeyPair.generate()
        #expect(CurveKeyPair.isValidZ85Key(keys.publicKey))
        #expect(CurveKeyPair.isValidZ85Key(keys.secretKey))
        #expect(keys.publicKey != keys.secretKey)
        #expect(try CurveKeyPair(secretKey: keys.secretKey) == keys)
        #expect(try CurveKeyPair.generate() != keys)
    }

    @Test("Key files round-trip, the secret file is private, and existing files are never overwritten")
    func keyFilesRoundTrip() throws {
        let directory = TemporaryDirectory("transport")
        let prefix = directory.file("coordinator")
        let keys = try CurveKeyPair.generate()
        try CurveKeyFiles.write(keys, prefix: prefix)

        #expect(try CurveKeyFiles.readKeyPair(secretKeyPath: prefix + ".key") == keys)
        #expect(try CurveKeyFiles.readPublicKey(path: prefix + ".pub") == keys.publicKey)
        var status = stat()
        #expect(stat(prefix + ".key", &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)

        let error = #expect(throws: CurveKeyFiles.FileError.self) {
            try CurveKeyFiles.write(try CurveKeyPair.generate(), prefix: prefix)
        }
        #expect(error?.path == prefix + ".key")
        #expect(try CurveKeyFiles.readKeyPair(secretKeyPath: prefix + ".key") == keys)
    }

    @Test("A key file without a key is refused with its path named")
    func malformedKeyFileIsRefused() throws {
        let directory = TemporaryDirectory("transport")
        let path = directory.file("broken.pub")
        let file = fopen(path, "w")
        fputs("not a key\n", file)
        fclose(file)
        let error = #expect(throws: CurveKeyFiles.FileError.self) { try CurveKeyFiles.readPublicKey(path: path) }
        #expect(error?.path == path)
    }
}
