/// The machine's memory as the kernel reports it, for checks made before allocating.
public enum SystemMemory {
    /// MemAvailable from /proc/meminfo in bytes: what can be allocated without swapping (free
    /// memory plus reclaimable page cache). nil where /proc/meminfo has no such field (not Linux).
    public static func available() -> Int? {
        ProcessStatus.fields(of: "/proc/meminfo")["MemAvailable"]
    }
}
