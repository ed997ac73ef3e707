/// Versions that other tools read: the program's, and the wire protocol's.
public enum ThinkLensVersion {
    /// The program version printed by `thinklens --version` and written into bundles.
    public static let program = "0.1.0"
    /// Every message on the wire starts with this; a peer speaking another version is refused.
    /// 2: top-p travels as a float64 (was float32); the unused `cancel` message and the heartbeat
    /// `openCredit` field are gone.
    /// 3: `assign` may carry feature edits (`--intervene`); a worker that cannot apply them must
    /// be refused at its hello rather than meet them in an assign.
    public static let wireProtocol: Int = 3
}
