import Foundation

/// Names and limits shared by the writer and the reader of bundles.
public enum BundleLayout {
    public static let formatVersion = 1
    public static let manifestFile = "manifest.json"
    public static let runFile = "run.json"
    public static let inferencesFile = "inferences.jsonl"
    public static let tokensFile = "tokens.csv"
    public static let latentsDirectory = "latents"
    public static let latentIndexFile = "latents/index.csv"
    public static let tablesDirectory = "tables"
    public static let journalDirectory = "journal"

    /// Removes the `NAME.tmp-PID` files an interrupted bundle write leaves (the writers'
    /// temporary names, see `TemporaryFile`) from `directory`, `latents/` and `tables/*/`;
    /// returns their paths. Only call it while holding the journal's lock.
    public static func removeTemporaryFiles(in directory: String) -> [String] {
        let fm = FileManager.default
        // interventions/: conditions.json and the paired tables of an --intervene run (each
        // condition's own bundle is cleaned by its own store).
        var folders = [directory, (directory as NSString).appendingPathComponent(latentsDirectory),
                       InterventionLayout.root(in: directory)]
        let tables = (directory as NSString).appendingPathComponent(tablesDirectory)
        folders += ((try? fm.contentsOfDirectory(atPath: tables)) ?? []).sorted().map { (tables as NSString).appendingPathComponent($0) }
        var removed: [String] = []
        for folder in folders {
            for name in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() where isTemporaryName(name) {
                let path = (folder as NSString).appendingPathComponent(name)
                if (try? fm.removeItem(atPath: path)) != nil { removed.append(path) }
            }
        }
        return removed
    }

    /// `NAME.tmp-DIGITS`.
    static func isTemporaryName(_ name: String) -> Bool {
        guard let range = name.range(of: ".tmp-", options: .backwards) else { return false }
        let digits = name[range.upperBound...]
        return !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) && range.lowerBound > name.startIndex
    }

    /// Hookpoint names become file names and CSV fields: refuse anything that could escape the
    /// bundle or break a line. Checked on the bytes: String compares Characters, and "\r\n", or
    /// '/' or ',' followed by a combining mark, is one Character that equals none of these.
    public static func checkHookpointName(_ name: String) throws {
        let forbidden: [UInt8] = [0, 0x0a, 0x0d, UInt8(ascii: "/"), UInt8(ascii: ",")]
        guard let first = name.utf8.first, first != UInt8(ascii: "."), !name.utf8.contains(where: forbidden.contains) else {
            throw RunDataError(subject: "hookpoint '\(name)'", reason: "is not usable as a file name (empty, starts with '.', or contains '/', ',', NUL or a line break)")
        }
    }
}
