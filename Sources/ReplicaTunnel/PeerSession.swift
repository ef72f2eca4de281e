#if canImport(CNIOLinux)
import CNIOLinux  // declares `linger` as NIO sees it (MemberImportVisibility)
#endif
import NIOCore
import NIOPosix
import ReplicaCore

/// A callback for operator-facing log lines (connection closed and why, refused targets, ...).
public typealias TunnelLogger = @Sendable (String) -> Void

/// The engine of one peer link: the handshake, the streams multiplexed over it, their flow control, the two
/// directions' encoder and decoder, miss recovery and keepalive.
///
/// It is the last handler of the peer channel's pipeline, after the frame codec, and everything it owns (local
/// sockets included) lives on that channel's event loop, so it needs no locks.
final class PeerSession: ChannelInboundHandler {
    typealias InboundIn = TunnelFrame
    typealias OutboundOut = TunnelFrame

    /// Which end of the link this is.
    enum Role {
        /// The near end: opens streams for accepted local connections.
        case client
        /// The far end: accepts OPEN frames, and dials the targets the dialer permits for this peer.
        case server(TargetDialer)
    }

    private enum Phase { case handshaking, ready, closed }

    let role: Role
    let configuration: TunnelConfiguration
    let statistics: TunnelStatisticsBox
    private let store: any ChunkStore
    private let logger: TunnelLogger
    private let encoder: LinkEncoder
    private let decoder: LinkDecoder
    private let peerName: String

    private var context: ChannelHandlerContext?
    private var phase = Phase.handshaking
    private(set) var streams: [UInt32: TunnelStream] = [:]
    private var nextStreamID: UInt32 = 1
    private var lastPeerStream: UInt32 = 0
    private var sendBudget = 0
    private var inFlight = 0
    private var receivedUncredited = 0
    private var starved: [UInt32] = []
    private var blocked = CircularBuffer<TunnelFrame>()
    private var awaiting: Set<Fingerprint> = []
    private var lastHeard = NIODeadline.uptimeNanoseconds(0)
    private var keepalive: RepeatedTask?
    private var draining = false
    /// The latest round-trip time measured by PING/PONG, once there is one.
    private var roundTrip: TimeAmount?
    /// Batches in a row that compressed by less than 1/32 and referenced nothing before a flow goes plain.
    static let plainAfter = 8
    /// Plain batches between two probes through the engine.
    static let probeEvery = 32
    private var needsFlush = false

    /// Called once when the handshake completes.
    var onReady: ((PeerSession) -> Void)?
    /// Called once when the link is gone.
    var onClose: ((PeerSession) -> Void)?

    init(
        role: Role, configuration: TunnelConfiguration, store: any ChunkStore, peerName: String,
        logger: @escaping TunnelLogger
    ) throws {
        self.role = role
        self.configuration = configuration
        self.store = store
        self.peerName = peerName
        self.logger = logger
        self.statistics = TunnelStatisticsBox()
        self.encoder = try LinkEncoder(
            configuration: configuration.encoder, store: store, retentionLimit: configuration.linkBudget)
        // The decoder must fingerprint as the peer's encoder does (same key), or keyed references never resolve.
        self.decoder = try LinkDecoder(
            options: DecoderOptions(fingerprinter: configuration.encoder.fingerprinter), store: store)
        if case .server = role { nextStreamID = 2 }
    }

    var isReady: Bool { phase == .ready }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard keepalive == nil else { return }
        lastHeard = context.eventLoop.now
        let hello = TunnelHello(
            capabilities: [.chunkRecovery], storeID: store.storeID, frameLimit: UInt32(configuration.frameLimit),
            receiveBudget: UInt32(configuration.linkBudget),
            fingerprintKeyCheck: configuration.encoder.fingerprinter.keyCheck)
        context.writeAndFlush(wrapOutboundOut(.hello(hello)), promise: nil)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepalive = context.eventLoop.scheduleRepeatedTask(
            initialDelay: configuration.keepaliveInterval, delay: configuration.keepaliveInterval
        ) { _ in bound.value.tick() }
    }

    private func tick() {
        guard phase != .closed, let context else { return }
        let silence = context.eventLoop.now - lastHeard
        if silence > configuration.keepaliveTimeout {
            fail(
                TunnelError(
                    .peerTimeout,
                    "\(peerName) sent nothing for \(silence.nanoseconds / 1_000_000) ms "
                        + "(timeout \(configuration.keepaliveTimeout.nanoseconds / 1_000_000) ms)"))
            return
        }
        context.writeAndFlush(wrapOutboundOut(.ping(context.eventLoop.now.uptimeNanoseconds)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = context.eventLoop.now
        handle(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? TunnelError {
            fail(error)
        } else if let error = error as? ByteToMessageDecoderError {
            fail(TunnelError(.protocolViolation, "\(error)"))
        } else {
            fail(TunnelError(.linkClosed, "\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        teardown(reason: "the link to \(peerName) closed")
        context.fireChannelInactive()
    }

    // MARK: Frames from the peer

    private func handle(_ frame: TunnelFrame) {
        guard phase != .closed else { return }
        if phase == .handshaking {
            guard case .hello(let hello) = frame else {
                fail(TunnelError(.handshakeFailed, "\(peerName) sent a \(frame.kind) frame before its hello"))
                return
            }
            accept(hello)
            return
        }
        if !blocked.isEmpty {
            switch frame {
            case .open, .data, .halfClose, .reset:
                guard blocked.count < 4 * configuration.maximumStreams + 1024 else {
                    fail(TunnelError(.protocolViolation, "\(peerName) sent too many frames while chunks were missing"))
                    return
                }
                blocked.append(frame)
                return
            default: break
            }
        }
        process(frame)
    }

    private func accept(_ hello: TunnelHello) {
        guard hello.version == TunnelProtocol.version else {
            fail(
                TunnelError(
                    .versionMismatch,
                    "\(peerName) speaks protocol version \(hello.version), this build speaks \(TunnelProtocol.version)"))
            return
        }
        let keyCheck = configuration.encoder.fingerprinter.keyCheck
        guard hello.fingerprintKeyCheck == keyCheck else {
            fail(
                TunnelError(
                    .handshakeFailed,
                    "\(peerName) uses fingerprint key \(Self.keyName(hello.fingerprintKeyCheck)), this end uses "
                        + "\(Self.keyName(keyCheck)): give both ends the same --fingerprint-key"))
            return
        }
        guard Int(hello.frameLimit) >= TunnelProtocol.minimumFrameLimit, hello.receiveBudget > 0 else {
            fail(TunnelError(.handshakeFailed, "\(peerName) announced a frame limit below 256 KiB or no budget"))
            return
        }
        sendBudget = min(configuration.linkBudget, Int(hello.receiveBudget))
        phase = .ready
        logger("link to \(peerName) is up (peer store \(hello.storeID))")
        // A first ping at once gives a round-trip time for window tuning.
        if let context { send(.ping(context.eventLoop.now.uptimeNanoseconds)) }
        onReady?(self)
    }

    /// A key check as log text: "none" or its hex id.
    private static func keyName(_ check: UInt32) -> String {
        check == 0 ? "none" : "id \(String(check, radix: 16))"
    }

    private func process(_ frame: TunnelFrame) {
        switch frame {
        case .hello:
            fail(TunnelError(.protocolViolation, "\(peerName) sent a second hello"))
        case .goAway(let code, let reason):
            logger("\(peerName) is closing the link: \(code): \(LogText.escape(reason))")
            context?.close(promise: nil)
        case .open(let id, let target, let window):
            peerOpened(id, target: target, window: window)
        case .data(let id, let data):
            received(data, on: id)
        case .windowUpdate(let id, let increment):
            credited(Int(increment), on: id)
        case .halfClose(let id):
            peerHalfClosed(id)
        case .reset(let id, let code, let reason):
            if let stream = streams[id] {
                logger("\(peerName) reset stream \(id): \(code): \(LogText.escape(reason))")
                remove(stream, abort: true)
            }
        case .ping(let value):
            send(.pong(value))
        case .pong(let sent):
            let now = context?.eventLoop.now.uptimeNanoseconds ?? 0
            if now > sent { roundTrip = .nanoseconds(Int64(now - sent)) }
        case .chunkRequest(let fingerprints):
            for fingerprint in fingerprints {
                let bytes = encoder.chunk(fingerprint)
                send(.chunkReply(fingerprint, bytes))
                if bytes != nil { statistics.update { $0.chunksRetransmitted += 1 } }
            }
        case .chunkReply(let fingerprint, let bytes):
            supplied(fingerprint, bytes)
        }
    }

    // MARK: Streams

    /// Opens a stream for a local connection the client accepted. The channel must be on this loop.
    ///
    /// - Parameters:
    ///   - held: bytes already read from the connection while it waited for the link (NIO reads everything up to
    ///     an EOF at once), sent once the stream has credit.
    ///   - inputClosed: whether the application's EOF was among them.
    func open(local channel: any Channel, to target: TunnelTarget, held: [ByteBuffer] = [], inputClosed: Bool = false) {
        guard phase == .ready, !draining, streams.count < configuration.maximumStreams, nextStreamID < UInt32.max - 2
        else {
            logger("refusing a local connection for \(target): the link is not ready or is full")
            Self.abort(channel)
            return
        }
        let id = nextStreamID
        nextStreamID += 2
        let stream = TunnelStream(id: id, window: configuration.streamWindow)
        stream.channel = channel
        for bytes in held {
            stream.pending.append(bytes)
            stream.pendingBytes += bytes.readableBytes
        }
        stream.localEOF = inputClosed
        streams[id] = stream
        statistics.update {
            $0.activeFlows = streams.count
            $0.openedFlows += 1
        }
        attach(channel, to: stream)
        send(.open(stream: id, target: target, window: UInt32(configuration.streamWindow)))
        flushIfNeeded()
    }

    private func attach(_ channel: any Channel, to stream: TunnelStream) {
        let handler = LocalStreamHandler(session: self, stream: stream.id)
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            remove(stream, abort: true)
            send(.reset(stream: stream.id, code: .connectFailed, reason: "local pipeline: \(error)"))
        }
    }

    private func peerOpened(_ id: UInt32, target: TunnelTarget, window: UInt32) {
        guard case .server(let dialer) = role else {
            fail(TunnelError(.protocolViolation, "the server \(peerName) tried to open stream \(id)"))
            return
        }
        guard id % 2 == 1, id > lastPeerStream else {
            fail(TunnelError(.protocolViolation, "\(peerName) opened stream \(id) out of order (last \(lastPeerStream))"))
            return
        }
        lastPeerStream = id
        guard !draining else {
            send(.reset(stream: id, code: .shuttingDown, reason: "the server is shutting down"))
            return
        }
        guard streams.count < configuration.maximumStreams else {
            logger("refusing stream \(id) from \(peerName): \(streams.count) streams are open")
            send(.reset(stream: id, code: .tooManyStreams, reason: "\(streams.count) streams are open"))
            return
        }
        let stream = TunnelStream(id: id, window: configuration.streamWindow)
        stream.sendCredit = Int(window)
        streams[id] = stream
        statistics.update {
            $0.activeFlows = streams.count
            $0.openedFlows += 1
        }
        guard let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        // The dialer resolves the target, checks every address against the allow-list and this peer's
        // permissions, and connects to exactly the address it checked.
        dialer.connect(target, on: loop, timeout: configuration.keepaliveTimeout) { bootstrap in
            bootstrap
                .channelOption(.autoRead, value: false)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        }
            .assumeIsolated()
            .whenComplete { result in bound.value.connected(result, stream: stream, target: target) }
    }

    private func connected(_ result: Result<any Channel, any Error>, stream: TunnelStream, target: TunnelTarget) {
        switch result {
        case .success(let channel):
            guard streams[stream.id] === stream, phase == .ready else {
                Self.abort(channel)
                return
            }
            stream.channel = channel
            attach(channel, to: stream)
            send(.windowUpdate(stream: stream.id, increment: UInt32(configuration.streamWindow)))
            requestRead(stream)
        case .failure(let error):
            guard streams[stream.id] === stream else { return }
            logger("stream \(stream.id) from \(peerName): cannot connect to \(target): \(error)")
            remove(stream, abort: false)
            let code = (error as? TunnelError)?.code ?? .connectFailed
            send(.reset(stream: stream.id, code: code, reason: "cannot connect to \(target): \(error)"))
        }
        flushIfNeeded()
    }

    // MARK: Local side (called by LocalStreamHandler)

    func localRead(_ id: UInt32, _ bytes: ByteBuffer) {
        guard let stream = streams[id] else { return }
        stream.reading = false
        stream.pending.append(bytes)
        stream.pendingBytes += bytes.readableBytes
    }

    func localReadComplete(_ id: UInt32) {
        guard let stream = streams[id] else { return }
        pump(stream)
        flushIfNeeded()
    }

    func localInputClosed(_ id: UInt32) {
        guard let stream = streams[id] else { return }
        stream.localEOF = true
        pump(stream)
        flushIfNeeded()
    }

    func localClosed(_ id: UInt32) {
        guard let stream = streams[id] else { return }
        if stream.peerHalfClosed, stream.unwritten == 0 {
            // Our side of the connection was already shut and the application's EOF closed the rest:
            // a clean end, whatever was read is still sent.
            stream.localEOF = true
            pump(stream)
            flushIfNeeded()
            return
        }
        remove(stream, abort: false)
        send(.reset(stream: id, code: .linkClosed, reason: "the local connection closed"))
        flushIfNeeded()
    }

    /// Sends what a stream has pending, as far as its credit and the link budget allow, then asks for more.
    private func pump(_ stream: TunnelStream) {
        while stream.pendingBytes > 0 {
            let room = min(stream.sendCredit, sendBudget - inFlight)
            guard room > 0 else {
                if stream.sendCredit > 0 { starve(stream) }
                return
            }
            guard var head = stream.pending.first else { break }
            let count = min(head.readableBytes, room, configuration.batchLimit)
            let batch: ByteBuffer
            if count == head.readableBytes {
                batch = stream.pending.removeFirst()
            } else {
                batch = head.readSlice(length: count) ?? ByteBuffer()
                stream.pending[stream.pending.startIndex] = head
            }
            // Merge small reads into one batch, up to the room left.
            var merged = batch
            while merged.readableBytes < min(room, configuration.batchLimit), let next = stream.pending.first,
                next.readableBytes <= min(room, configuration.batchLimit) - merged.readableBytes
            {
                var next = stream.pending.removeFirst()
                merged.writeBuffer(&next)
            }
            let data: TunnelData
            let length = merged.readableBytes
            if stream.incompressibleStreak >= Self.plainAfter, stream.plainBatches < Self.probeEvery {
                // The flow looks like TLS or media: carry it past the engine, probing again now and then.
                data = .plain(merged)
                stream.plainBatches += 1
            } else {
                do {
                    data = try encoder.encode(merged)
                } catch {
                    fail(TunnelError(.decodeFailed, "the encoder failed: \(error)"))
                    return
                }
                let gained = data.encoded.readableBytes < length - length / 32
                stream.incompressibleStreak = data.references.isEmpty && !gained ? stream.incompressibleStreak + 1 : 0
                stream.plainBatches = 0
            }
            stream.pendingBytes -= length
            stream.sendCredit -= length
            stream.outstanding += length
            inFlight += length
            send(.data(stream: stream.id, data))
            let encoderStatistics = encoder.statistics
            statistics.update {
                $0.applicationBytesSent += UInt64(length)
                if data.isPlain { $0.plainBytesSent += UInt64(length) }
                $0.chunks = encoderStatistics.chunks
                $0.chunkHits = encoderStatistics.windowReferences + encoderStatistics.storeReferences
            }
        }
        if stream.localEOF, !stream.sentHalfClose {
            stream.sentHalfClose = true
            send(.halfClose(stream: stream.id))
            finishIfDone(stream)
        } else {
            requestRead(stream)
        }
    }

    private func requestRead(_ stream: TunnelStream) {
        guard let channel = stream.channel, !stream.localEOF, !stream.reading, stream.pendingBytes == 0,
            stream.sendCredit > 0
        else { return }
        guard inFlight < sendBudget else {
            starve(stream)
            return
        }
        stream.reading = true
        channel.read()
    }

    private func starve(_ stream: TunnelStream) {
        if !stream.starved {
            stream.starved = true
            starved.append(stream.id)
        }
    }

    private func credited(_ increment: Int, on id: UInt32) {
        guard let stream = streams[id] else { return }
        let released = min(increment, stream.outstanding)
        stream.outstanding -= released
        inFlight -= released
        guard stream.sendCredit + increment <= 1 << 31 else {
            fail(TunnelError(.flowControl, "\(peerName) raised stream \(id)'s credit beyond 2 GiB"))
            return
        }
        stream.sendCredit += increment
        pump(stream)
        if released > 0 { wakeStarved() }
    }

    private func wakeStarved() {
        guard !starved.isEmpty, inFlight < sendBudget else { return }
        let waiting = starved
        starved.removeAll()
        for id in waiting {
            guard let stream = streams[id] else { continue }
            stream.starved = false
            pump(stream)
        }
    }

    // MARK: Data from the peer

    private func received(_ data: TunnelData, on id: UInt32) {
        guard !data.isPlain else {
            deliver(data, on: id)
            return
        }
        let missing = decoder.missingReferences(data)
        guard missing.isEmpty else {
            statistics.update {
                $0.chunkMisses += UInt64(missing.count)
                $0.chunkRequests += 1
            }
            awaiting.formUnion(missing)
            blocked.append(.data(stream: id, data))
            var rest = missing[...]
            while !rest.isEmpty {
                let part = rest.prefix(TunnelProtocol.maximumFingerprintsPerFrame)
                rest = rest.dropFirst(part.count)
                send(.chunkRequest(Array(part)))
            }
            return
        }
        deliver(data, on: id)
    }

    private func supplied(_ fingerprint: Fingerprint, _ bytes: [UInt8]?) {
        guard awaiting.remove(fingerprint) != nil else { return }
        guard let bytes, decoder.supply(fingerprint, bytes) else {
            fail(
                TunnelError(
                    .missingChunk,
                    "\(peerName) could not supply chunk \(fingerprint)"
                        + (bytes == nil ? "" : " (its bytes did not match the fingerprint)")))
            return
        }
        guard awaiting.isEmpty else { return }
        // The head frame is complete: replay the queue until it blocks again.
        let queue = blocked
        blocked.removeAll()
        for (index, frame) in queue.enumerated() {
            if index == 0, case .data(let id, let data) = frame {
                // Its chunks are supplied; pin the ones the store already held and deliver.
                let stillMissing = decoder.missingReferences(data)
                guard stillMissing.isEmpty else {
                    fail(TunnelError(.missingChunk, "chunk \(stillMissing[0]) vanished while it was being fetched"))
                    return
                }
                deliver(data, on: id)
            } else if !blocked.isEmpty {
                blocked.append(frame)
            } else {
                process(frame)
            }
            if phase == .closed { return }
        }
    }

    private func deliver(_ data: TunnelData, on id: UInt32) {
        let bytes: ByteBuffer
        do {
            bytes = data.isPlain ? try LinkDecoder.verifyPlain(data) : try decoder.decode(data)
        } catch {
            if error.code == .checksumMismatch, let stream = streams[id] {
                logger("stream \(id) from \(peerName): \(error); resetting it")
                remove(stream, abort: true)
                send(.reset(stream: id, code: .checksumMismatch, reason: error.message))
                return
            }
            fail(error)
            return
        }
        guard let stream = streams[id], let channel = stream.channel else { return }
        let length = bytes.readableBytes
        guard length <= stream.receiveAllowance, receivedUncredited + length <= configuration.linkBudget else {
            fail(
                TunnelError(
                    .flowControl,
                    "\(peerName) sent \(length) bytes on stream \(id) with \(stream.receiveAllowance) of credit"))
            return
        }
        stream.receiveAllowance -= length
        stream.unwritten += length
        receivedUncredited += length
        statistics.update { $0.applicationBytesReceived += UInt64(length) }
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        channel.writeAndFlush(bytes).assumeIsolated().whenComplete { result in
            bound.value.written(length, on: stream, success: (try? result.get()) != nil)
        }
    }

    private func written(_ length: Int, on stream: TunnelStream, success: Bool) {
        receivedUncredited -= length
        stream.unwritten -= length
        guard streams[stream.id] === stream, phase == .ready else { return }
        if success {
            stream.receiveAllowance += length
            let growth = windowGrowth(stream, delivered: length)
            stream.receiveAllowance += growth
            send(.windowUpdate(stream: stream.id, increment: UInt32(length + growth)))
            finishIfDone(stream)
        } else {
            remove(stream, abort: true)
            send(.reset(stream: stream.id, code: .linkClosed, reason: "the local connection stopped accepting data"))
        }
        flushIfNeeded()
    }

    /// How much to grow a stream's window after `delivered` more bytes reached its application: the window
    /// doubles (up to the maximum) when the whole of it was used within two round trips.
    private func windowGrowth(_ stream: TunnelStream, delivered: Int) -> Int {
        guard let roundTrip, let now = context?.eventLoop.now else { return 0 }
        if stream.deliveredInEpoch == 0 && stream.epochStart == .uptimeNanoseconds(0) { stream.epochStart = now }
        stream.deliveredInEpoch += delivered
        guard stream.deliveredInEpoch >= stream.window else { return 0 }
        let fast = now - stream.epochStart < roundTrip * 2
        stream.deliveredInEpoch = 0
        stream.epochStart = now
        guard fast, stream.window < configuration.maximumStreamWindow else { return 0 }
        let growth = min(stream.window, configuration.maximumStreamWindow - stream.window)
        stream.window += growth
        return growth
    }

    private func peerHalfClosed(_ id: UInt32) {
        guard let stream = streams[id], !stream.peerHalfClosed else { return }
        stream.peerHalfClosed = true
        // close(mode: .output) waits for the writes already queued, so no byte is cut off.
        stream.channel?.close(mode: .output, promise: nil)
        finishIfDone(stream)
    }

    private func finishIfDone(_ stream: TunnelStream) {
        guard stream.sentHalfClose, stream.peerHalfClosed, stream.unwritten == 0 else { return }
        remove(stream, abort: false)
    }

    /// Forgets a stream and closes its local connection: with a TCP reset when `abort`, else gracefully.
    private func remove(_ stream: TunnelStream, abort: Bool) {
        guard streams.removeValue(forKey: stream.id) != nil else { return }
        inFlight -= stream.outstanding
        stream.outstanding = 0
        statistics.update {
            $0.activeFlows = streams.count
            if abort { $0.resetFlows += 1 }
        }
        if let channel = stream.channel {
            if abort { Self.abort(channel) } else { channel.close(promise: nil) }
        }
        stream.channel = nil
        wakeStarved()
        if draining && streams.isEmpty { context?.close(promise: nil) }
    }

    /// Closes a local connection with a TCP reset (SO_LINGER 0), so its application sees an error, not an EOF.
    static func abort(_ channel: any Channel) {
        if let provider = channel as? any SocketOptionProvider {
            provider.setSoLinger(NIOLinger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    // MARK: Link lifecycle

    /// Stops accepting streams, lets open ones finish within the drain timeout, then resets the rest.
    func drain() {
        guard phase != .closed, let context else { return }
        draining = true
        if streams.isEmpty {
            send(.goAway(code: .shuttingDown, reason: "shutting down"))
            flushIfNeeded()
            context.close(promise: nil)
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: configuration.drainTimeout) {
            bound.value.fail(TunnelError(.shuttingDown, "the drain timeout passed with open streams"))
        }
    }

    /// Reports a fatal error to the peer (GOAWAY) and closes the link.
    func fail(_ error: TunnelError) {
        guard phase != .closed, let context else { return }
        logger("closing the link to \(peerName): \(error)")
        context.writeAndFlush(wrapOutboundOut(.goAway(code: error.code, reason: error.message)), promise: nil)
        context.close(promise: nil)
        teardown(reason: error.description)
    }

    private func teardown(reason: String) {
        guard phase != .closed else { return }
        phase = .closed
        keepalive?.cancel()
        keepalive = nil
        let open = Array(streams.values)
        for stream in open { remove(stream, abort: true) }
        if !open.isEmpty { logger("\(reason): reset \(open.count) open stream(s)") }
        onClose?(self)
        onClose = nil
    }

    private func send(_ frame: TunnelFrame) {
        guard phase != .closed, let context else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
        needsFlush = true
    }

    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }
}

/// The state of one multiplexed stream at one end.
final class TunnelStream {
    let id: UInt32
    /// The local TCP connection, once there is one.
    var channel: (any Channel)?
    /// Decoded bytes this end may still send.
    var sendCredit = 0
    /// Bytes sent and not yet credited back.
    var outstanding = 0
    /// Bytes read from the local connection, not yet sent.
    var pending = CircularBuffer<ByteBuffer>()
    var pendingBytes = 0
    /// Decoded bytes the peer may still send.
    var receiveAllowance: Int
    /// The receive window now: the initial window, grown by tuning.
    var window: Int
    /// Bytes delivered since `epochStart`, the start of the current tuning period.
    var deliveredInEpoch = 0
    var epochStart = NIODeadline.uptimeNanoseconds(0)
    /// Bytes received and handed to the local connection, not yet written by it.
    var unwritten = 0
    var localEOF = false
    var sentHalfClose = false
    var peerHalfClosed = false
    var reading = false
    var starved = false
    /// Encoded batches in a row that neither compressed nor deduplicated.
    var incompressibleStreak = 0
    /// Plain batches since the last probe through the engine.
    var plainBatches = 0

    init(id: UInt32, window: Int) {
        self.id = id
        self.receiveAllowance = window
        self.window = window
    }
}

/// The handler on each local TCP connection: forwards reads, EOF and closure to the session.
final class LocalStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private weak var session: PeerSession?
    private let stream: UInt32

    init(session: PeerSession, stream: UInt32) {
        self.session = session
        self.stream = stream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.localRead(stream, unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.localReadComplete(stream)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            session?.localInputClosed(stream)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.localClosed(stream)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
