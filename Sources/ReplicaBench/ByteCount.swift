import ArgumentParser

/// A byte count on the command line: a number with an optional K, M or G suffix (binary units).
struct ByteCount: ExpressibleByArgument, CustomStringConvertible {
    /// The number of bytes.
    let value: Int

    /// A count of `value` bytes.
    init(_ value: Int) { self.value = value }

    /// Parses `4096`, `64K`, `32M` or `1G`; nil for anything else, or for a count that overflows.
    init?(argument: String) {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(argument)
        var unit = 1
        if let last = digits.last?.uppercased().first, let multiplier = units[last] {
            unit = multiplier
            digits = digits.dropLast()
        }
        guard let number = Int(digits), number >= 0 else { return nil }
        let (value, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.value = value
    }

    var description: String { Report.bytes(value) }
    var defaultValueDescription: String { description }
}
