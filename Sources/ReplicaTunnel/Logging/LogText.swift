/// Makes peer-supplied text safe for a log line or a terminal.
///
/// Everything that is not printable becomes a visible escape: control characters (newlines included, so a
/// peer cannot forge a second log line), ESC (no terminal escape sequences), DEL, C1 controls, Unicode format
/// characters (bidirectional overrides, zero-width characters), separators other than the space, private-use
/// and unassigned scalars. A backslash is doubled, so an escape in the output always comes from here. Text
/// longer than ``maximumLength`` scalars is cut and says how much was left out.
public enum LogText {
    /// The most scalars of one peer-supplied string that reach a log line.
    public static let maximumLength = 256

    /// The escaped, bounded form of `text`.
    public static func escape(_ text: some StringProtocol, maximumLength: Int = maximumLength) -> String {
        var output = ""
        var kept = 0
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard kept < maximumLength else {
                var rest = 1
                while scalars.next() != nil { rest += 1 }
                output += "...(\(rest) more characters)"
                break
            }
            kept += 1
            output += escape(scalar)
        }
        return output
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\u{1B}": return "\\e"
        case " "..."~": return String(scalar)
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .surrogate, .privateUse,
            .unassigned:
            return "\\u{\(String(scalar.value, radix: 16))}"
        default:
            return String(scalar)
        }
    }
}
