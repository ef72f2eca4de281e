import ArgumentParser

/// A size given on the command line: digits with an optional binary suffix, `8K`, `256M`, `1G` (`KiB`, `KB`
/// and lowercase are accepted too; every unit is a power of 1024, as in zstd).
struct ByteCount: ExpressibleByArgument, Hashable {
    /// The size in bytes.
    let value: Int

    /// Wraps a size in bytes.
    init(_ value: Int) { self.value = value }

    /// Parses `8K`, `256M`, `1G`, `4096`; `nil` for anything else or a size above `Int.max`.
    init?(argument: String) {
        let digits = argument.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        let shifts: [String: Int] = ["": 0, "K": 10, "M": 20, "G": 30, "T": 40]
        var unit = argument.dropFirst(digits.count).uppercased()
        if unit.count == 3 && unit.hasSuffix("IB") {
            unit.removeLast(2)
        } else if unit.hasSuffix("B") {
            unit.removeLast()
        }
        guard let shift = shifts[unit] else { return nil }
        let (scaled, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { return nil }
        value = scaled
    }

    /// The shortest exact spelling: `8K`, `256M`, `1G`, or plain bytes.
    var defaultValueDescription: String {
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where value != 0 && value % (1 << shift) == 0
        {
            return "\(value >> shift)\(unit)"
        }
        return "\(value)"
    }
}
