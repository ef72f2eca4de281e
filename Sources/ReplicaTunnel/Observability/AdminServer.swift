public import NIOCore
import NIOHTTP1
import NIOPosix
public import Prometheus

/// The admin listener: `/metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz`
/// (the endpoint is ready to carry flows).
///
/// It serves plain HTTP/1.1 through NIOHTTP1 and is meant for loopback or a management network: it carries no
/// secrets, but it is not authenticated.
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
    ///   - beforeScrape: runs before each `/metrics` answer, to refresh gauges that are read rather than pushed.
    ///   - readiness: asked on each `/readyz`.
    /// - Throws: the bind error.
    public static func start(
        address: TunnelTarget, registry: PrometheusCollectorRegistry, group: any EventLoopGroup,
        beforeScrape: @escaping @Sendable () async -> Void = {},
        readiness: @escaping @Sendable () async -> Readiness
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
    let beforeScrape: @Sendable () async -> Void
    let readiness: @Sendable () async -> AdminServer.Readiness

    /// The status, content type and body for a request.
    func respond(method: HTTPMethod, path: String) async -> (HTTPResponseStatus, String, [UInt8]) {
        guard method == .GET || method == .HEAD else {
            return (.methodNotAllowed, "text/plain", Array("only GET and HEAD\n".utf8))
        }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics":
            await beforeScrape()
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case "/healthz":
            return (.ok, "text/plain", Array("ok\n".utf8))
        case "/readyz":
            let report = await readiness()
            if report.isReady { return (.ok, "text/plain", Array("ready\n".utf8)) }
            return (.serviceUnavailable, "text/plain", Array((report.problems.joined(separator: "\n") + "\n").utf8))
        default:
            return (.notFound, "text/plain", Array("try /metrics, /healthz or /readyz\n".utf8))
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
            let routes = routes
            let answer = context.eventLoop.makeFutureWithTask {
                await routes.respond(method: head.method, path: head.uri)
            }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            answer.whenSuccess { status, contentType, body in
                Self.send(status, contentType, body, for: head, context: bound.value)
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
