/// The targets a tunnel server may connect to. Empty means none: the server is never an open proxy.
public struct TunnelAllowList: Hashable, Sendable {
    /// The permitted targets; a port of 0 permits every port of that host.
    public var targets: Set<TunnelTarget>

    /// Creates an allow-list.
    public init(_ targets: [TunnelTarget] = []) { self.targets = Set(targets) }

    /// Parses `HOST:PORT,HOST:PORT,...` (`HOST:*` allows every port of a host).
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the bad entry.
    public init(parsing text: String) throws(TunnelError) {
        var targets: [TunnelTarget] = []
        for entry in text.split(separator: ",") where !entry.isEmpty {
            if entry.hasSuffix(":*") {
                targets.append(TunnelTarget(host: String(entry.dropLast(2)), port: 0))
            } else {
                targets.append(try TunnelTarget(parsing: entry))
            }
        }
        self.init(targets)
    }

    /// Whether the server may connect to `target`.
    public func permits(_ target: TunnelTarget) -> Bool {
        targets.contains(target) || targets.contains(TunnelTarget(host: target.host, port: 0))
    }
}
