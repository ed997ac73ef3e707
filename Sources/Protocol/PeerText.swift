/// A string a peer sent, made safe for a log line: control characters (C0, DEL, C1), line
/// and paragraph separators are written as `\u{…}` escapes, so a peer cannot forge log lines or
/// move the terminal's cursor, and anything past `limit` characters is cut with an ellipsis.
public enum PeerText {
    public static func escaped(_ text: String, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { return out + "…" }
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 {
                out += "\\u{" + String(v, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
