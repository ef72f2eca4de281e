/// One sample of the Prometheus text format, as `/metrics` serves it: `name{label="value",...} 12.5`.
public struct MetricsSample: Sendable, Equatable {
    /// The metric name.
    public var name: String
    /// The labels, in the order given.
    public var labels: [String: String]
    /// The value.
    public var value: Double

    /// Creates a sample.
    public init(name: String, labels: [String: String] = [:], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }

    /// The samples of a text-format exposition; comments and lines that are not samples are skipped.
    public static func parse(_ text: String) -> [MetricsSample] {
        text.split(separator: "\n").compactMap { parseLine(Substring($0)) }
    }

    static func parseLine(_ line: Substring) -> MetricsSample? {
        guard let first = line.first, first != "#" else { return nil }
        var name = line.prefix { $0 != "{" && $0 != " " }
        var rest = line.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            guard let close = rest.firstIndex(of: "}") else { return nil }
            for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                labels[String(parts[0])] = String(parts[1].trimmingCharacters(in: "\""))
            }
            rest = rest[rest.index(after: close)...]
        }
        name = name.drop { $0 == " " }
        let fields = rest.split(separator: " ")
        guard let valueText = fields.first, let value = Double(valueText) else { return nil }
        return MetricsSample(name: String(name), labels: labels, value: value)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return text
    }
}

extension [MetricsSample] {
    /// The sum of the samples with this name whose labels include `labels`.
    public func total(_ name: String, _ labels: [String: String] = [:]) -> Double {
        lazy.filter { sample in
            sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
        }.reduce(0) { $0 + $1.value }
    }
}
