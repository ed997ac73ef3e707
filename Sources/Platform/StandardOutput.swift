#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// The C standard output stream, for commands that print progress lines to a pipe. `stdout`
/// is a C global; only the main thread touches it, from the commands' `run`.
public enum StandardOutput {
    /// Hands buffered lines to the pipe now.
    public static func flush() { fflush(stdout) }

    /// One line at a time, also into a pipe (a reader sees each line as it is printed).
    public static func makeLineBuffered() { setvbuf(stdout, nil, _IOLBF, 0) }
}
