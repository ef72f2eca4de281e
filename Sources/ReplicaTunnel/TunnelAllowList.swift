public import NIOCore

/// The targets a tunnel server may connect to. Empty means none: the server is never an open proxy.
///
/// Entries are ``TunnelTargetPattern``s: host names, addresses and CIDR networks, each with a port or `*`.
/// Names are matched as given; addresses and networks are matched against the address a target resolves to,
/// and the server dials exactly the address it checked.
public struct TunnelAllowList: Hashable, Sendable {
    /// The permitted targets.
    public var entries: [TunnelTargetPattern]

    /// Creates an allow-list of exact targets.
    public init(_ targets: [TunnelTarget] = []) { self.entries = targets.map(TunnelTargetPattern.init) }

    /// Creates an allow-list of patterns.
    public init(entries: [TunnelTargetPattern]) { self.entries = entries }

    /// Parses `ENTRY,ENTRY,...`, each a ``TunnelTargetPattern`` (`HOST:PORT`, `HOST:*`, `CIDR:PORT`, `*`).
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the bad entry.
    public init(parsing text: String) throws(TunnelError) {
        var entries: [TunnelTargetPattern] = []
        for entry in Self.split(text) { entries.append(try TunnelTargetPattern(parsing: entry)) }
        self.init(entries: entries)
    }

    /// Whether the list permits nothing.
    public var isEmpty: Bool { entries.isEmpty }

    /// Whether the list covers a target naming `name` that resolved to `address`, on `port`.
    public func permits(name: String, address: SocketAddress, port: Int) -> Bool {
        entries.contains { $0.covers(name: name, address: address, port: port) }
    }

    /// Splits a comma-separated list, keeping commas inside brackets (none are valid there, but the error then
    /// names the whole entry).
    static func split(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0) }.filter { !$0.isEmpty }
    }
}

/// Which targets each authenticated peer may reach, by certificate name, like ssh's `permitopen`. A peer may
/// open a flow only to a target that both its permissions and the server's allow-list cover; a name with no
/// entry may reach nothing (default deny). The name `*` grants its entries to every peer, and is the only
/// entry a plaintext peer (which has no name) gets.
public struct TunnelPermissions: Hashable, Sendable {
    /// The patterns granted to each certificate name.
    public var grants: [String: [TunnelTargetPattern]]

    /// Creates permissions.
    public init(_ grants: [String: [TunnelTargetPattern]] = [:]) { self.grants = grants }

    /// Parses `NAME=ENTRY[,ENTRY...]` items (the CLI's repeatable `--permit`).
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the bad item.
    public init(parsing items: [String]) throws(TunnelError) {
        var grants: [String: [TunnelTargetPattern]] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                throw TunnelError(.invalidArgument, "'\(LogText.escape(item))' is not NAME=HOST:PORT[,...]")
            }
            let name = String(item[..<equals])
            for entry in TunnelAllowList.split(String(item[item.index(after: equals)...])) {
                grants[name, default: []].append(try TunnelTargetPattern(parsing: entry))
            }
        }
        self.init(grants)
    }

    /// The patterns that apply to a peer: its own name's, and `*`'s.
    public func patterns(for identity: TunnelPeerIdentity?) -> [TunnelTargetPattern] {
        (identity.map { grants[$0.name] ?? [] } ?? []) + (grants["*"] ?? [])
    }
}
