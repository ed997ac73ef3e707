import Testing
import Transport

/// Which listen endpoints reach other machines (they need CURVE or --insecure).
@Suite struct EndpointScopeTests {
    @Test(arguments: ["tcp://127.0.0.1:5555", "tcp://127.1.2.3:*", "tcp://localhost:5555", "tcp://[::1]:5555",
                      "ipc:///tmp/thinklens.sock", "inproc://run"])
    func loopbackEndpointsStayOnThisMachine(endpoint: String) {
        #expect(EndpointScope.isLoopbackOnly(endpoint))
    }

    @Test(arguments: ["tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://10.0.0.5:5555", "tcp://node17:5555",
                      "tcp://[::]:5555", "tcp://eth0:5555", "tcp://128.0.0.1:1", "tcp://127.0.0.256:1", "udp://127.0.0.1:1"])
    func otherEndpointsReachOtherMachines(endpoint: String) {
        #expect(!EndpointScope.isLoopbackOnly(endpoint))
    }
}
