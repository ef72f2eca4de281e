import ReplicaCore

/// The demo's sample: successive versions of a service log, generated from a fixed seed, so every run and
/// every machine compresses the same bytes. Each version is the previous one with a few lines edited,
/// inserted and removed and a tail appended, as nightly snapshots of a growing log would be.
struct DemoCorpus {
    /// The seed of the generator.
    let seed: UInt64
    /// How many versions are concatenated.
    let versions: Int
    /// Lines in the first version.
    let baseLines: Int

    /// The fixed sample: 8 versions of a 6,000-line log, about 5 MiB.
    static let standard = DemoCorpus(seed: 0x5EED_2026, versions: 8, baseLines: 6000)

    /// Generates the sample.
    func generate() -> [UInt8] {
        var random = HashSequence(seed: seed)
        var clock: UInt64 = 1_772_366_400_000  // 2026-03-01T12:00:00Z in milliseconds
        let nextLine = { (random: inout HashSequence) -> [UInt8] in
            clock += random.next(below: 400)
            return Self.line(at: clock, random: &random)
        }
        var lines = (0..<baseLines).map { _ in nextLine(&random) }
        var output: [UInt8] = []
        for version in 0..<versions {
            if version > 0 {
                for _ in 0..<lines.count / 1000 {
                    lines[Int(random.next(below: UInt64(lines.count)))] = nextLine(&random)
                }
                for _ in 0..<lines.count / 1000 {
                    lines.insert(nextLine(&random), at: Int(random.next(below: UInt64(lines.count))))
                }
                for _ in 0..<lines.count / 2000 { lines.remove(at: Int(random.next(below: UInt64(lines.count)))) }
                for _ in 0..<lines.count / 50 { lines.append(nextLine(&random)) }
            }
            for line in lines { output += line }
        }
        return output
    }

    private static let services = ["api-gateway", "orders", "billing", "inventory", "auth", "search"]
    private static let levels = ["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"]
    private static let routes = ["/v1/orders", "/v1/users", "/v1/cart", "/v1/search", "/v2/invoices", "/health"]
    private static let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]

    /// One log line: `2026-03-01T12:00:00.123Z INFO  orders GET /v1/orders/4821 200 5123B 12ms req=9f3a61c2`.
    private static func line(at milliseconds: UInt64, random: inout HashSequence) -> [UInt8] {
        let seconds = milliseconds / 1000
        let day = seconds / 86400 - 20513  // days since 2026-03-01
        let two = { (value: UInt64) in value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds % 1000
        let stamp =
            "2026-03-\(two(1 + day % 28))T\(two(seconds / 3600 % 24)):\(two(seconds / 60 % 60)):\(two(seconds % 60))."
            + (millis < 100 ? "0" : "") + (millis < 10 ? "0" : "") + "\(millis)Z"
        let pick = { (list: [String], random: inout HashSequence) in list[Int(random.next(below: UInt64(list.count)))] }
        let status = random.next(below: 20) == 0 ? "500" : random.next(below: 10) == 0 ? "404" : "200"
        let text =
            "\(stamp) \(pick(levels, &random)) \(pick(services, &random)) \(pick(methods, &random)) "
            + "\(pick(routes, &random))/\(random.next(below: 100_000)) \(status) \(random.next(below: 64_000))B "
            + "\(random.next(below: 900))ms req=\(String(random.next(below: 1 << 32), radix: 16))\n"
        return Array(text.utf8)
    }
}

/// Numbers drawn by hashing a counter with ReplicaCore's XXH3 fingerprinter: the same seed gives the same
/// sequence on every machine and toolchain, which the standard library's generators do not promise.
struct HashSequence {
    private let fingerprinter = Fingerprinter()
    private var counter: UInt64

    init(seed: UInt64) { counter = seed }

    /// A number in `0..<bound` (with a negligible bias for the small bounds used here).
    mutating func next(below bound: UInt64) -> UInt64 {
        counter &+= 1
        let fingerprint = withUnsafeBytes(of: counter.littleEndian) { fingerprinter.fingerprint($0) }
        return fingerprint.low % bound
    }
}
