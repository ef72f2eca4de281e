public import NIOCore

/// One entry of an allow-list or of a peer's permissions: which hosts and ports it covers.
///
/// Forms: `HOST:PORT`, `HOST:*` (every port), `CIDR:PORT` or `CIDR:*` (`10.0.0.0/8:443`, `[fd00::/8]:*`), an
/// address (`127.0.0.1:80`, `[::1]:80`, a /32 or /128), and `*` (every host and port). A host name covers a
/// target that names it; an address or network covers a target whose resolved address lies in it.
public struct TunnelTargetPattern: Hashable, Sendable, CustomStringConvertible {
    enum Host: Hashable, Sendable {
        case any
        case name(String)
        case network(TunnelNetwork)
    }

    let host: Host
    /// The port, or `nil` for every port.
    public let port: Int?

    /// Parses one entry.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the entry.
    public init(parsing text: String) throws(TunnelError) {
        if text == "*" {
            host = .any
            port = nil
            return
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw TunnelError(.invalidArgument, "'\(LogText.escape(text))' is not HOST:PORT, HOST:*, CIDR:PORT or *")
        }
        let portText = text[text.index(after: colon)...]
        var hostText = String(text[..<colon])
        if portText == "*" {
            port = nil
        } else if let value = Int(portText), (1...65535).contains(value) {
            port = value
        } else {
            throw TunnelError(.invalidArgument, "'\(LogText.escape(text))': the port must be 1...65535 or *")
        }
        if let network = TunnelNetwork(parsing: hostText) {
            host = .network(network)
        } else {
            if hostText.hasPrefix("["), hostText.hasSuffix("]") { hostText = String(hostText.dropFirst().dropLast()) }
            guard !hostText.isEmpty, hostText.utf8.count <= 255, !hostText.contains("/"), !hostText.contains(":")
            else { throw TunnelError(.invalidArgument, "'\(LogText.escape(text))' names no valid host or network") }
            host = hostText == "*" ? .any : .name(hostText.lowercased())
        }
    }

    /// Every host and port.
    public static let any = TunnelTargetPattern(host: .any, port: nil)

    private init(host: Host, port: Int?) {
        self.host = host
        self.port = port
    }

    /// A pattern for exactly one target (its host as a name or an address).
    public init(_ target: TunnelTarget) {
        host = TunnelNetwork(parsing: target.host).map(Host.network) ?? .name(target.host.lowercased())
        port = target.port
    }

    /// Whether the pattern covers a target that names `name`, dialled at `address`, on `port`.
    public func covers(name: String, address: SocketAddress, port: Int) -> Bool {
        guard self.port == nil || self.port == port else { return false }
        switch host {
        case .any: return true
        case .name(let allowed): return allowed == name.lowercased()
        case .network(let network): return network.contains(address)
        }
    }

    /// Whether the pattern covers `address:port` by address alone (not by a host name).
    func covers(address: SocketAddress, port: Int) -> Bool {
        guard self.port == nil || self.port == port else { return false }
        switch host {
        case .any: return true
        case .name: return false
        case .network(let network): return network.contains(address)
        }
    }

    public var description: String {
        let hostText: String
        switch host {
        case .any: return port.map { "*:\($0)" } ?? "*"
        case .name(let name): hostText = LogText.escape(name)
        case .network(let network):
            let text = network.prefixLength == network.address.count * 8 ? String(network.description.prefix { $0 != "/" }) : network.description
            hostText = network.address.count == 16 ? "[\(text)]" : text
        }
        return "\(hostText):\(port.map(String.init) ?? "*")"
    }
}
