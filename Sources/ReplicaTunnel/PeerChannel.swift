import NIOCore
import ReplicaCore

/// Builds the pipeline of a peer link: byte counting, the frame codec and the session.
enum PeerChannel {
    /// Adds the handlers to a peer channel. Must run on the channel's event loop.
    static func configure(_ channel: any Channel, session: PeerSession) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(WireCounter(statistics: session.statistics))
        try operations.addHandler(
            ByteToMessageHandler(
                TunnelFrameDecoder(frameLimit: session.configuration.frameLimit),
                maximumBufferSize: session.configuration.frameLimit + TunnelProtocol.frameHeaderSize + (1 << 20)))
        try operations.addHandler(TunnelFrameWriter())
        try operations.addHandler(session)
    }
}

/// Counts the bytes a peer link reads and writes.
final class WireCounter: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let statistics: TunnelStatisticsBox

    init(statistics: TunnelStatisticsBox) { self.statistics = statistics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = unwrapInboundIn(data).readableBytes
        statistics.update { $0.wireBytesReceived += UInt64(count) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let count = unwrapOutboundIn(data).readableBytes
        statistics.update { $0.wireBytesSent += UInt64(count) }
        context.write(data, promise: promise)
    }
}

