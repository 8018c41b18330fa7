/// Text made safe to print to a terminal.
public enum Printable {
    /// `text` with C0 and C1 control characters and DEL (which could drive a terminal: escape sequences, cursor
    /// moves) replaced by U+FFFD.
    public static func text(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let v = scalar.value
            out.append(v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) ? "\u{FFFD}" : scalar)
        }
        return String(out)
    }
}
