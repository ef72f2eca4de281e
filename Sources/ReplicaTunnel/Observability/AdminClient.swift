public import NIOCore
import NIOHTTP1
import NIOPosix

/// Fetches a path from an admin listener over HTTP/1.1 (NIOHTTP1), for `replica tunnel status` and health checks.
public enum AdminClient {
    /// An answer: the status code and the body.
    public struct Response: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body, as text.
        public var body: String
    }

    /// The most body bytes accepted; an admin answer is far smaller.
    static let bodyLimit = 16 << 20

    /// GETs `path` from `address`.
    ///
    /// - Throws: a connect error, `TunnelError` `timedOut` past `timeout`, or `protocolViolation` when the body
    ///   exceeds 16 MiB or the connection closes before the answer ends.
    public static func get(
        _ path: String, from address: TunnelTarget, group: any EventLoopGroup, timeout: TimeAmount = .seconds(5)
    ) async throws -> Response {
        let promise = group.next().makePromise(of: Response.self)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                }
            }
            .connect(host: address.host, port: address.port)
            .get()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.description)
        headers.add(name: "Connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(TunnelError(.peerTimeout, "no answer from \(address) within \(timeout)"))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// Gathers one response and fulfils the promise with it.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<AdminClient.Response>
    private var status = 0
    private var body: ByteBuffer?

    init(promise: EventLoopPromise<AdminClient.Response>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(var part):
            if (body?.readableBytes ?? 0) + part.readableBytes > AdminClient.bodyLimit {
                promise.fail(TunnelError(.protocolViolation, "admin answer over \(AdminClient.bodyLimit) bytes"))
                context.close(promise: nil)
                return
            }
            if body == nil { body = part } else { body?.writeBuffer(&part) }
        case .end:
            promise.succeed(.init(status: status, body: body.map { String(buffer: $0) } ?? ""))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TunnelError(.protocolViolation, "the admin listener closed before answering"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
