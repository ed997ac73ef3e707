/// The per-feature statistics of one hookpoint: the columns features.csv gets after
/// `mean_act` (docs/bundle.md has the formulas). nil is an empty cell: not tested, or not defined.
public struct FeatureStatistics: Sendable, Equatable {
    public static let columns = ["token_eta2", "reason_score", "reason_mu_in", "reason_mu_out", "reason_entropy",
                                 "segment_diff", "segment_p", "segment_q", "correct_wrong_p", "correct_wrong_q",
                                 "top_act_lo", "top_act_hi"]
    public var tokenEta2: Double?
    public var reasonScore: Double?
    public var reasonMuIn: Double?
    public var reasonMuOut: Double?
    public var reasonEntropy: Double?
    public var segmentDiff: Double?
    public var segmentP: Double?
    public var segmentQ: Double?
    public var correctWrongP: Double?
    public var correctWrongQ: Double?
    public var topActLow: Double?
    public var topActHigh: Double?

    public init() {}

    /// From features.csv's cells after `mean_act` (empty: nil); `malformed(i)` names a bad cell.
    public init(cells: [String], malformed: (Int) -> Error) throws {
        var values: [Double?] = []
        for (i, cell) in cells.enumerated() {
            if cell.isEmpty { values.append(nil); continue }
            guard let v = Double(cell) else { throw malformed(i) }
            values.append(v)
        }
        guard values.count == Self.columns.count else { throw malformed(min(values.count, Self.columns.count - 1)) }
        (tokenEta2, reasonScore, reasonMuIn, reasonMuOut, reasonEntropy) = (values[0], values[1], values[2], values[3], values[4])
        (segmentDiff, segmentP, segmentQ, correctWrongP, correctWrongQ) = (values[5], values[6], values[7], values[8], values[9])
        (topActLow, topActHigh) = (values[10], values[11])
    }

    /// The value of a column of `columns` by name.
    public func value(_ column: String) -> Double? {
        Self.columns.firstIndex(of: column).flatMap { cells[$0] }
    }

    var cells: [Double?] {
        [tokenEta2, reasonScore, reasonMuIn, reasonMuOut, reasonEntropy, segmentDiff, segmentP, segmentQ,
         correctWrongP, correctWrongQ, topActLow, topActHigh]
    }
}
