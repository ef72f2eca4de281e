public import NIOCore
import NIOHTTP1
import NIOPosix
public import Prometheus

/// The admin listener: `/metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz`
/// (the endpoint is ready to carry flows).
///
/// It serves plain HTTP/1.1 through NIOHTTP1 and is meant for loopback or a management network: it carries no
/// secrets, but it is not authenticated. Every answer is computed on the connection's event loop, never on the
/// Swift concurrency pool, so a daemon whose pool is saturated (or blocked) still answers its probes at once.
public final class AdminServer: Sendable {
    /// Whether an endpoint can carry flows, and why not.
    public struct Readiness: Sendable, Equatable {
        /// The reasons the endpoint is not ready; empty when it is.
        public var problems: [String]
        /// Creates a readiness report.
        public init(problems: [String]) { self.problems = problems }
        /// True when nothing is wrong.
        public var isReady: Bool { problems.isEmpty }
    }

    private let channel: any Channel

    /// The bound address (with the real port when 0 was asked for).
    public var localAddress: SocketAddress? { channel.localAddress }

    private init(channel: any Channel) { self.channel = channel }

    /// Binds the admin listener.
    ///
    /// - Parameters:
    ///   - address: the address and port to listen on.
    ///   - registry: the metrics `/metrics` emits.
    ///   - group: the event loops to serve on.
    ///   - beforeScrape: runs on the request's event loop before each `/metrics` answer, to refresh gauges that
    ///     are read rather than pushed; the answer waits for its future. It must not block.
    ///   - readiness: asked on each `/readyz`, on the event loop: read state kept up to date elsewhere (an atomic,
    ///     a lock held briefly), never wait for work.
    /// - Throws: the bind error.
    public static func start(
        address: TunnelTarget, registry: PrometheusCollectorRegistry, group: any EventLoopGroup,
        beforeScrape: @escaping @Sendable (any EventLoop) -> EventLoopFuture<Void> = { $0.makeSucceededVoidFuture() },
        readiness: @escaping @Sendable () -> Readiness
    ) async throws -> AdminServer {
        let routes = AdminRoutes(registry: registry, beforeScrape: beforeScrape, readiness: readiness)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHTTPHandler(routes: routes))
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
        return AdminServer(channel: channel)
    }

    /// Stops listening.
    public func shutdown() async { try? await channel.close() }
}

/// What each path answers.
struct AdminRoutes: Sendable {
    let registry: PrometheusCollectorRegistry
    let beforeScrape: @Sendable (any EventLoop) -> EventLoopFuture<Void>
    let readiness: @Sendable () -> AdminServer.Readiness

    typealias Answer = (HTTPResponseStatus, String, [UInt8])

    /// The status, content type and body for a request, computed on `loop`.
    func respond(method: HTTPMethod, path: String, on loop: any EventLoop) -> EventLoopFuture<Answer> {
        guard method == .GET || method == .HEAD else {
            return loop.makeSucceededFuture((.methodNotAllowed, "text/plain", Array("only GET and HEAD\n".utf8)))
        }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics":
            let registry = registry
            // A failed refresh still answers, with the gauges as they were.
            return beforeScrape(loop).flatMapErrorWithEventLoop { _, loop in loop.makeSucceededVoidFuture() }.map {
                (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
            }
        case "/healthz":
            return loop.makeSucceededFuture((.ok, "text/plain", Array("ok\n".utf8)))
        case "/readyz":
            let report = readiness()
            if report.isReady { return loop.makeSucceededFuture((.ok, "text/plain", Array("ready\n".utf8))) }
            return loop.makeSucceededFuture(
                (.serviceUnavailable, "text/plain", Array((report.problems.joined(separator: "\n") + "\n").utf8)))
        default:
            return loop.makeSucceededFuture((.notFound, "text/plain", Array("try /metrics, /healthz or /readyz\n".utf8)))
        }
    }
}

/// Answers each request from ``AdminRoutes``.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: AdminRoutes
    private var request: HTTPRequestHead?

    init(routes: AdminRoutes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            routes.respond(method: head.method, path: head.uri, on: context.eventLoop).hop(to: context.eventLoop)
                .assumeIsolated().whenSuccess { status, contentType, body in
                    Self.send(status, contentType, body, for: head, context: context)
                }
        }
    }

    private static func send(
        _ status: HTTPResponseStatus, _ contentType: String, _ body: [UInt8], for head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            NIOAny(
                HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            context.write(
                NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                promise: nil)
        }
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive { done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
    }
}
