import Testing
@testable import Platform

/// /proc's `KEY: VALUE kB` files, read into bytes.
@Suite("/proc fields")
struct ProcFieldsTests {
    @Test func statusLinesPaddedWithATabAreRead() {
        // /proc/self/status writes a tab after the colon.
        let fields = ProcessStatus.fields(parsing: "Name:\tthinklens\nVmHWM:\t    2184 kB\nVmRSS:\t    2100 kB\nThreads:\t3\n")
        #expect(fields["VmHWM"] == 2184 * 1024)
        #expect(fields["VmRSS"] == 2100 * 1024)
        #expect(fields["Threads"] == 3)
        #expect(fields["Name"] == nil)
    }

    @Test func meminfoLinesPaddedWithSpacesAreRead() {
        let fields = ProcessStatus.fields(parsing: "MemTotal:       24683772 kB\nMemAvailable:   22567288 kB\nHugePages_Total:       0\n")
        #expect(fields["MemAvailable"] == 22_567_288 * 1024)
        #expect(fields["HugePages_Total"] == 0)
    }

    @Test func thisMachineReportsAvailableMemoryOnLinux() {
        #if os(Linux)
        let available = SystemMemory.available()
        #expect(available != nil)
        #expect((available ?? 0) > 0)
        #expect(ProcessStatus.current().peakResident > 0)
        #endif
    }
}
