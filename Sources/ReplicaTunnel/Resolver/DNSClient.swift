public import NIOCore
public import NIOPosix

/// Asks one DNS server (a dnsmasq cache on loopback, usually) over UDP, one socket per query.
public struct DNSClient: Sendable {
    /// The server's address.
    public let server: TunnelTarget
    /// How long to wait for a reply.
    public var timeout: TimeAmount

    /// Creates a client for `server`; nothing is sent until a query.
    public init(server: TunnelTarget, timeout: TimeAmount = .seconds(2)) {
        self.server = server
        self.timeout = timeout
    }

    /// The answers to one query.
    ///
    /// - Throws: ``TunnelError`` `peerTimeout` without a reply in time, `protocolViolation` for a bad reply,
    ///   `invalidArgument` for a bad name, or the socket's error.
    package func query(
        _ name: String, type: DNSMessage.RecordType, class recordClass: DNSMessage.RecordClass = .internet,
        on loop: any EventLoop
    ) -> EventLoopFuture<[DNSMessage.Answer]> {
        let id = UInt16.random(in: 0...UInt16.max)
        let request: [UInt8]
        let address: SocketAddress
        do {
            request = try DNSMessage.query(id: id, name: name, type: type, class: recordClass)
            address = try SocketAddress(ipAddress: server.host, port: server.port)
        } catch {
            return loop.makeFailedFuture(error)
        }
        let promise = loop.makePromise(of: [DNSMessage.Answer].self)
        let timeout = timeout
        let server = server
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ReplyHandler(id: id, type: type, from: address, promise: promise))
                }
            }
            .bind(host: address.protocol == .inet6 ? "::" : "0.0.0.0", port: 0)
            .whenComplete { result in
                switch result {
                case .failure(let error): promise.fail(error)
                case .success(let channel):
                    let envelope = AddressedEnvelope(
                        remoteAddress: address, data: channel.allocator.buffer(bytes: request))
                    channel.writeAndFlush(envelope).whenFailure { promise.fail($0) }
                    let timer = channel.eventLoop.scheduleTask(in: timeout) {
                        promise.fail(TunnelError(.peerTimeout, "no DNS reply from \(server) within \(timeout)"))
                    }
                    promise.futureResult.whenComplete { _ in
                        timer.cancel()
                        channel.close(promise: nil)
                    }
                }
            }
        return promise.futureResult
    }
}

/// Takes the first datagram from the server as the reply.
private final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let id: UInt16
    let type: DNSMessage.RecordType
    let server: SocketAddress
    let promise: EventLoopPromise<[DNSMessage.Answer]>

    init(
        id: UInt16, type: DNSMessage.RecordType, from server: SocketAddress,
        promise: EventLoopPromise<[DNSMessage.Answer]>
    ) {
        self.id = id
        self.type = type
        self.server = server
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        // A datagram from anywhere else is not the reply (an off-path spoof attempt or a stray).
        guard envelope.remoteAddress == server else { return }
        do {
            promise.succeed(try DNSMessage.answers(Array(envelope.data.readableBytesView), id: id, type: type))
        } catch {
            promise.fail(error)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { promise.fail(error) }
}

/// A NIO `Resolver` that asks the configured DNS server, so a tunnel server reaches targets by the names its
/// branch's DNS cache knows. Address literals and `localhost` are answered without a query.
public final class ConfiguredResolver: Resolver, Sendable {
    private let client: DNSClient
    private let loop: any EventLoop

    /// Creates a resolver asking `client`'s server, on `loop`.
    public init(client: DNSClient, loop: any EventLoop) {
        self.client = client
        self.loop = loop
    }

    public func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
        lookup(host, port: port, type: .a)
    }

    public func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
        lookup(host, port: port, type: .aaaa)
    }

    public func cancelQueries() {}

    private func lookup(_ host: String, port: Int, type: DNSMessage.RecordType) -> EventLoopFuture<[SocketAddress]> {
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            let wanted: NIOBSDSocket.ProtocolFamily = type == .a ? .inet : .inet6
            return loop.makeSucceededFuture(literal.protocol == wanted ? [literal] : [])
        }
        if host == "localhost" {
            let address = try? SocketAddress(ipAddress: type == .a ? "127.0.0.1" : "::1", port: port)
            return loop.makeSucceededFuture(address.map { [$0] } ?? [])
        }
        return client.query(host, type: type, on: loop).map { answers in
            answers.compactMap { answer -> SocketAddress? in
                switch answer {
                case .ipv4(let bytes):
                    return try? SocketAddress(ipAddress: bytes.map(String.init).joined(separator: "."), port: port)
                case .ipv6(let bytes):
                    let groups = stride(from: 0, to: 16, by: 2).map {
                        String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
                    }
                    return try? SocketAddress(ipAddress: groups.joined(separator: ":"), port: port)
                case .text: return nil
                }
            }
        }
    }
}

/// dnsmasq's cache counters, read with CHAOS TXT queries for `hits.bind` and `misses.bind`.
public struct DNSCacheCounters: Sendable, Equatable {
    /// Queries answered from the cache.
    public var hits: Int
    /// Queries forwarded upstream (or failed locally).
    public var misses: Int

    /// Reads the counters from `client`'s server.
    ///
    /// - Throws: the query error, or ``TunnelError`` `protocolViolation` when a counter is not a number.
    public static func read(from client: DNSClient, on loop: any EventLoop) async throws -> DNSCacheCounters {
        try await counters(from: client, on: loop).get()
    }

    /// Reads the counters from `client`'s server, as a future on `loop` (both queries at once).
    ///
    /// - Returns: a future that fails with the query error, or ``TunnelError`` `protocolViolation` when a counter
    ///   is not a number.
    public static func counters(from client: DNSClient, on loop: any EventLoop) -> EventLoopFuture<DNSCacheCounters> {
        func counter(_ name: String) -> EventLoopFuture<Int> {
            client.query(name, type: .txt, class: .chaos, on: loop).flatMapThrowing { answers in
                guard case .text(let text)? = answers.first, let value = Int(text) else {
                    throw TunnelError(.protocolViolation, "\(client.server) answered \(name) with \(answers)")
                }
                return value
            }
        }
        return counter("hits.bind").and(counter("misses.bind")).map { DNSCacheCounters(hits: $0, misses: $1) }
    }
}
