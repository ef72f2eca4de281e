public import NIOCore
import NIOPosix

/// The server's whole rule for dial-outs: the allow-list, each peer's permissions, and the listener that no
/// flow may ever reach.
public struct TunnelAccessPolicy: Sendable {
    /// The targets the server may reach at all.
    public var allowList: TunnelAllowList
    /// The targets each peer may reach.
    public var permissions: TunnelPermissions

    /// Creates a policy.
    public init(allowList: TunnelAllowList, permissions: TunnelPermissions) {
        self.allowList = allowList
        self.permissions = permissions
    }

    /// Refuses a policy with an entry that names the listener itself (`address:port` exactly, or a network
    /// holding it with that port); wildcard entries are checked at dial time instead.
    ///
    /// - Throws: ``TunnelError`` `invalidArgument` naming the entry.
    public func check(listener: SocketAddress) throws(TunnelError) {
        let all = allowList.entries + permissions.grants.values.flatMap { $0 }
        for entry in all where entry.port != nil {
            let names = ListenerGuard(listener: listener).addresses.contains { entry.covers(address: $0, port: listener.port ?? 0) }
            if names {
                throw TunnelError(
                    .invalidArgument, "\(entry) names the tunnel's own listener \(TunnelLog.format(listener))")
            }
        }
    }
}

/// The addresses that reach the listener: its own, and when it is bound to a wildcard address, every local
/// interface address and loopback.
struct ListenerGuard: Sendable {
    let port: Int
    let addresses: [SocketAddress]

    init(listener: SocketAddress) {
        port = listener.port ?? 0
        let wildcard = TunnelNetwork.bytes(of: listener).map { $0.allSatisfy { $0 == 0 } } ?? false
        var addresses = [listener]
        if wildcard {
            addresses += (try? System.enumerateDevices().compactMap(\.address)) ?? []
            addresses += ["127.0.0.1", "::1"].compactMap { try? SocketAddress(ipAddress: $0, port: 0) }
        }
        self.addresses = addresses
    }

    /// Whether dialling `address` would reach the listener.
    func isListener(_ address: SocketAddress) -> Bool {
        guard address.port == port, let bytes = TunnelNetwork.bytes(of: address) else { return false }
        return addresses.contains { TunnelNetwork.bytes(of: $0) == bytes }
    }
}

/// The dial-outs of one peer link: resolves a target off the event loop (through the configured DNS server when
/// there is one, else `getaddrinfo` on NIO's thread pool), keeps the addresses that the allow-list and the
/// peer's permissions both cover (and that are not the listener), and dials exactly the first of them, so DNS
/// cannot change the answer between the check and the connect.
final class TargetDialer: Sendable {
    private let allowList: TunnelAllowList
    private let patterns: [TunnelTargetPattern]
    private let listener: ListenerGuard?
    private let resolver: TunnelTarget?
    private let who: String

    /// Creates the dialer of one peer.
    ///
    /// - Parameter resolver: the DNS server to resolve names with (``TunnelConfiguration/resolver``); `nil` uses
    ///   the system's resolver.
    init(policy: TunnelAccessPolicy, identity: TunnelPeerIdentity?, listener: SocketAddress?, resolver: TunnelTarget? = nil) {
        allowList = policy.allowList
        patterns = policy.permissions.patterns(for: identity)
        self.listener = listener.map(ListenerGuard.init)
        self.resolver = resolver
        who = identity.map { "peer \($0)" } ?? "a plaintext peer"
    }

    /// The refusal of a target that can be judged without resolving it: every target when this peer may reach
    /// nothing, and an address literal that is not permitted. `nil` means: dial, and check once resolved.
    func earlyRefusal(of target: TunnelTarget) -> TunnelError? {
        guard !patterns.isEmpty else { return TunnelError(.targetRefused, "\(target) is not permitted for \(who)") }
        guard let literal = try? SocketAddress(ipAddress: target.host, port: target.port) else { return nil }
        return permits(target.host, literal, port: target.port)
            ? nil : TunnelError(.targetRefused, "\(target) is not permitted for \(who)")
    }

    private func permits(_ host: String, _ address: SocketAddress, port: Int) -> Bool {
        listener?.isListener(address) != true
            && allowList.permits(name: host, address: address, port: port)
            && patterns.contains { $0.covers(name: host, address: address, port: port) }
    }

    /// Every address of a target: a literal as is, else the configured DNS server's A and AAAA answers, else
    /// `getaddrinfo` on the thread pool.
    private func resolve(_ host: String, port: Int, on loop: any EventLoop) -> EventLoopFuture<[SocketAddress]> {
        if let literal = try? SocketAddress(ipAddress: host, port: port) { return loop.makeSucceededFuture([literal]) }
        guard let resolver else {
            return NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try HostResolver.resolve(host, port: port) }
        }
        let dns = ConfiguredResolver(client: DNSClient(server: resolver), loop: loop)
        let v4 = dns.initiateAQuery(host: host, port: port).recover { _ in [] }
        let v6 = dns.initiateAAAAQuery(host: host, port: port).recover { _ in [] }
        return v4.and(v6).flatMapThrowing { v4, v6 in
            let addresses = Array((v4 + v6).prefix(HostResolver.maximumAddresses))
            guard !addresses.isEmpty else {
                throw TunnelError(.connectFailed, "cannot resolve \(TunnelTarget(host: host, port: port)) at \(resolver)")
            }
            return addresses
        }
    }

    /// Resolves, checks and connects; the future fails with ``TunnelError`` `targetRefused` when no address of
    /// the target is permitted, or with the resolve or connect error.
    func connect(
        _ target: TunnelTarget, on loop: any EventLoop, timeout: TimeAmount,
        bootstrap: @escaping @Sendable (ClientBootstrap) -> ClientBootstrap
    ) -> EventLoopFuture<any Channel> {
        if let refusal = earlyRefusal(of: target) { return loop.makeFailedFuture(refusal) }
        let host = target.host
        let port = target.port
        return resolve(host, port: port, on: loop).flatMap { addresses in
            guard let address = addresses.first(where: { self.permits(host, $0, port: port) }) else {
                let listed = addresses.map(TunnelLog.format).joined(separator: ", ")
                return loop.makeFailedFuture(
                    TunnelError(.targetRefused, "\(target) (\(listed)) is not permitted for \(self.who)"))
            }
            return bootstrap(ClientBootstrap(group: loop)).connectTimeout(timeout).connect(to: address)
        }
    }
}
