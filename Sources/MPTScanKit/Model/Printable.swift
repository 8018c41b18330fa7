/// Text made safe to print to a terminal.
public enum Printable {
    /// `text` with C0 and C1 control characters and DEL (which could drive a terminal: escape sequences, cursor
    /// moves) and the bidirectional overrides and isolates (which can make text read differently from its bytes:
    /// CVE-2021-42574, "Trojan Source") replaced by U+FFFD.
    public static func text(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let unsafe = v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
            out.append(unsafe ? "\u{FFFD}" : scalar)
        }
        return String(out)
    }
}
