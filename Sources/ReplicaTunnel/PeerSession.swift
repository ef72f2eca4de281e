#if canImport(CNIOLinux)
import CNIOLinux  // declares `linger` as NIO sees it (MemberImportVisibility)
#endif
import NIOCore
import NIOPosix
import ReplicaCore

/// A callback for operator-facing log lines (connection closed and why, refused targets, ...): the internal
/// shape of the `Logger` the public API takes.
package typealias TunnelLogger = @Sendable (String) -> Void

/// The NIO side of one peer link: it feeds each frame to the link's ``PeerStateMachine`` and does what the
/// result says (deliver, reset a stream, close the link), and it owns the I/O: the local sockets of the streams,
/// the two directions' encoder and decoder, timers and writes.
///
/// It is the last handler of the peer channel's pipeline, after the frame codec, and everything it owns (local
/// sockets included) lives on that channel's event loop, so it needs no locks. When the link closes it lets go
/// of its context, encoder, decoder and streams, so a closed link keeps nothing.
///
/// Encoding and decoding touch the chunk store. With a store that may block (reads, writes, `fsync`, eviction
/// on a disk) they run on a thread pool, never on the event loop; with one that never blocks they run inline,
/// on this event loop (``TunnelEngineExecution``). Either way one job per direction runs at a time, which keeps
/// each direction in order and bounds the pool's queue to two jobs per link. On the pool a job carries several
/// DATA frames where it can (a flow's pending batches, the frames held behind the previous decode), so the
/// thread hops are paid once per job. Frames that arrive while a DATA frame is being decoded (or waits for chunks) are held in order, within the
/// link budget plus ``TunnelLimits/maximumMissQueueBytes``.
final class PeerSession: ChannelDuplexHandler {
    typealias InboundIn = TunnelFrame
    typealias OutboundIn = TunnelFrame
    typealias OutboundOut = TunnelFrame

    typealias Role = PeerStateMachine.Role

    let configuration: TunnelConfiguration
    let statistics: TunnelStatisticsBox
    private let store: any ChunkStore
    private let logger: TunnelLogger
    /// The link's encoder and decoder, until it closes (read by tests).
    private(set) var engine: LinkEngine?
    /// The pool the engine runs on, or `nil` when it runs on this link's event loop (``TunnelEngineExecution``).
    private let offload: NIOThreadPool?
    private let peerName: String
    /// A DATA frame is being decoded (on the pool, or inline).
    private var decoding = false
    /// Inline engine jobs (no pool) running one inside another's completion, now.
    private var inlineDepth = 0
    /// The most inline engine jobs nested in one another before the next waits for a task of its own.
    static let inlineDepthLimit = 8
    /// Inline engine jobs that waited for a task of their own (``inlineDepthLimit``), so far.
    private(set) var inlineDeferrals = 0
    /// A batch is being encoded on the pool.
    private var encoding = false
    /// The stream of the batch being encoded, and a RESET for that stream sent meanwhile, which goes out after
    /// the batch's DATA: the peer forgets the flow's decoder state at the RESET, and the batch may continue a
    /// chunk whose start it holds.
    private var encodingStream: UInt32?
    private var resetAfterBatch: TunnelFrame?
    /// The most batches of one flow one pool job encodes (each its own DATA frame of at most
    /// ``TunnelConfiguration/batchLimit`` bytes): fewer thread hops per byte. Inline, one.
    static let batchesPerEncodeJob = 4
    /// The most consecutive held DATA frames one pool job decodes. Inline, one.
    static let framesPerDecodeJob = 8
    /// Encoded bytes of the DATA frames a running decode job took beyond its first: counted with the held frames
    /// against ``decodeBacklog``, as they were before the job took them.
    private var decodingHeldBytes = 0
    /// Chunks the peer supplied, added to the store by the next decode job.
    private var supplies: [(Fingerprint, [UInt8])] = []

    private var machine: PeerStateMachine
    private var context: ChannelHandlerContext?
    /// The local side of each stream: its socket and the bytes read from it, not yet sent.
    private var locals: [UInt32: TunnelStream] = [:]
    /// Bytes read from local connections and not yet taken into a batch, over all streams: counted with the
    /// bytes in flight against the link budget before another local read, so reads held here are bounded by
    /// the budget (plus one read cycle), not by the number of flows.
    private var pendingTotal = 0
    /// Streams waiting for the encoder, link budget or the socket, in the order they started waiting.
    private var starved = CircularBuffer<UInt32>()
    private var lastHeard = NIODeadline.uptimeNanoseconds(0)
    /// When the keepalive tick last ran: a tick much later than its interval means this loop was busy (or the
    /// process was not scheduled), and the peer's frames may be sitting unread in the socket.
    private var lastTick = NIODeadline.uptimeNanoseconds(0)
    /// The previous tick was late and deferred its verdict on the peer's silence (never two in a row).
    private var verdictDeferred = false
    private var keepalive: RepeatedTask?
    /// A read the pipeline asked for while reading from the peer was paused (replies not taken by the socket, or
    /// a decode backlog).
    private var readHeld = false
    /// Encoded bytes held behind the DATA frame being decoded past which the peer is not read until the decode
    /// returns: enough to keep the pool busy, while the rest of what the peer may send (up to the link budget)
    /// waits in the sockets, not in this process. Frames held for missing chunks never pause reading (the
    /// replies that unblock them come behind them).
    static let decodeBacklog = 4 << 20
    /// The latest round-trip time measured by PING/PONG, once there is one.
    private var roundTrip: TimeAmount?
    /// Batches in a row that compressed by less than 1/32 and referenced nothing before a flow goes plain.
    static let plainAfter = 8
    /// Plain batches before the first probe through the engine; each probe that finds nothing to gain doubles the
    /// interval, up to ``longestProbeInterval``, and a batch that gains starts over.
    static let probeEvery = 32
    /// The most plain batches between two probes (48 MiB of a bulk flow at the batch limit).
    static let longestProbeInterval = 256
    private var needsFlush = false
    /// The promise of the last frame written since the last flush, while no flush is being timed.
    private var flushProbe: EventLoopPromise<Void>?
    /// A flush is being timed (one at a time, so timing costs a promise per frame only between timed flushes).
    private var timingFlush = false

    /// Called once when the handshake completes.
    var onReady: ((PeerSession) -> Void)?
    /// Called once when the link is gone.
    var onClose: ((PeerSession) -> Void)?

    /// Creates a session.
    ///
    /// - Parameter offload: the pool that encodes and decodes when the configuration's
    ///   ``TunnelConfiguration/engineExecution`` uses one for `store`; `nil` runs them inline whatever it says (tests
    ///   on an `EmbeddedChannel`).
    init(
        role: Role, configuration: TunnelConfiguration, store: any ChunkStore, peerName: String,
        offload: NIOThreadPool? = .singleton, logger: @escaping TunnelLogger
    ) throws {
        self.configuration = configuration
        self.offload = configuration.engineExecution.usesThreadPool(with: store) ? offload : nil
        self.store = store
        self.peerName = peerName
        self.logger = logger
        self.statistics = TunnelStatisticsBox()
        self.machine = PeerStateMachine(role: role, configuration: configuration)
        self.engine = LinkEngine(
            encoder: try LinkEncoder(
                configuration: configuration.encoder, store: store, retentionLimit: configuration.linkBudget),
            decoder: try LinkDecoder(
                options: DecoderOptions(
                    memoryLimit: configuration.limits.decoderMemoryLimit,
                    // The decoder fingerprints as the peer's encoder does (the same key, checked in the hello).
                    fingerprinter: configuration.encoder.fingerprinter),
                store: store))
    }

    var role: Role { machine.role }
    var isReady: Bool { machine.phase == .ready }
    /// The streams open now, with their accounting.
    var streams: [UInt32: PeerStateMachine.Stream] { machine.streams }
    /// Whether the session still holds its channel context or engine (a closed link must hold neither).
    var holdsResources: Bool { context != nil || engine != nil || !locals.isEmpty }

    private var now: NIODeadline { context?.eventLoop.now ?? .now() }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        teardown(reason: "the session left the pipeline")
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard keepalive == nil, machine.phase == .handshaking else { return }
        lastHeard = context.eventLoop.now
        lastTick = lastHeard
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
        guard machine.phase != .closed, let context else { return }
        let now = context.eventLoop.now
        // While a decode backlog keeps this end from reading, the peer's frames wait unread: its silence is ours.
        if readHeld && decodeBacklogFull { lastHeard = now }
        let silence = now - lastHeard
        // NIO runs due timers after the I/O of a loop iteration: a tick delayed by a long burst of work on this
        // loop runs before the sockets that became readable meanwhile are read. Such a late tick judges nothing;
        // the next one (an interval later, after a read) does, so a dead peer is still found one interval later.
        // Never two in a row: on a loop that stays overloaded a dead peer is still found.
        let late = now - lastTick > configuration.keepaliveInterval + configuration.keepaliveInterval
        let deferring = late && !verdictDeferred
        verdictDeferred = deferring
        lastTick = now
        if silence > configuration.keepaliveTimeout && !deferring {
            fail(
                TunnelError(
                    .peerTimeout,
                    "\(peerName) sent nothing for \(silence.nanoseconds / 1_000_000) ms "
                        + "(timeout \(configuration.keepaliveTimeout.nanoseconds / 1_000_000) ms)"))
            return
        }
        if let overdue = machine.overdueChunk(at: now) {
            misbehaved(overdue)
            return
        }
        for id in machine.idleStreams(at: now) {
            logger("stream \(id) to \(peerName) was idle past \(configuration.limits.streamIdleTimeout); resetting it")
            remove(id, abort: true)
            send(.reset(stream: id, code: .peerTimeout, reason: "the stream was idle too long"))
        }
        send(.ping(now.uptimeNanoseconds))
        flushIfNeeded()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = context.eventLoop.now
        handle(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Streams stop producing DATA while the socket is full, and resume here.
        if context.channel.isWritable { wakeStarved() }
        flushIfNeeded()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        // While replies pile up unsent, the peer is not read: it cannot make this end queue more. Nor while a
        // decode backlog is held: the peer's DATA waits in the sockets rather than in memory here.
        if machine.readingPaused || decodeBacklogFull {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// A decode job runs and the frames held behind it reach ``decodeBacklog``.
    private var decodeBacklogFull: Bool {
        decoding && machine.blockedBytes + decodingHeldBytes >= Self.decodeBacklog
    }

    /// Passes on a read held while reading was paused, once nothing pauses it any more.
    private func resumeReading() {
        guard readHeld, !machine.readingPaused, !decodeBacklogFull, let context else { return }
        readHeld = false
        context.read()
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
        switch machine.phase {
        case .closed:
            return
        case .handshaking:
            guard case .hello(let hello) = frame else {
                apply(machine.receiveBeforeHello(frame.kind))
                return
            }
            accept(hello)
        case .ready:
            if decoding || machine.isBlocked {
                switch frame {
                case .data(let id, let data):
                    let result = machine.receiveData(id, declaredLength: Int(data.decodedLength), at: now)
                    if case .closeLink(let violation) = result {
                        misbehaved(violation)
                        return
                    }
                    hold(.data(id, data, result))
                    return
                case .open, .halfClose, .reset:
                    hold(.frame(frame))
                    return
                default: break
                }
            }
            process(frame)
        }
    }

    private func accept(_ hello: TunnelHello) {
        guard apply(machine.receiveHello(hello)) else { return }
        let knowledge = PeerKnowledgeRegistry.shared.knowledge(
            of: hello.storeID, capacity: configuration.limits.knownChunksPerPeer)
        engine?.encoder.setPeer(knowledge)
        engine?.decoder.setPeer(knowledge)
        logger("link to \(peerName) is up (peer store \(hello.storeID))")
        // A first ping at once gives a round-trip time for window tuning.
        send(.ping(now.uptimeNanoseconds))
        onReady?(self)
    }

    /// Does what a result asks for other than going ahead; returns whether to go ahead.
    @discardableResult
    private func apply(_ result: PeerStateMachine.Result) -> Bool {
        switch result {
        case .proceed:
            return true
        case .ignore:
            return false
        case .resetStream(let id, let error):
            logger("refusing stream \(id) from \(peerName): \(error.message)")
            send(.reset(stream: id, code: error.code, reason: error.message))
            return false
        case .closeLink(let violation):
            misbehaved(violation)
            return false
        }
    }

    private func misbehaved(_ violation: PeerViolation) {
        let error = violation.error
        if let failure = violation.handshakeFailure { TunnelMetrics.shared.handshakeFailed(failure) }
        fail(TunnelError(error.code, "\(peerName) \(error.message)"))
    }

    private func process(_ frame: TunnelFrame) {
        switch frame {
        case .hello(let hello):
            apply(machine.receiveHello(hello))
        case .goAway(let code, let reason):
            logger("\(peerName) is closing the link: \(code): \(LogText.escape(reason))")
            context?.close(promise: nil)
        case .open(let id, let target, let window):
            guard apply(machine.receiveOpen(id, target: target, window: window, at: now)) else { return }
            connect(id, to: target)
        case .data(let id, let data):
            switch machine.receiveData(id, declaredLength: Int(data.decodedLength), at: now) {
            case .closeLink(let violation): misbehaved(violation)
            case let result: received(data, on: id, result)
            }
        case .windowUpdate(let id, let increment):
            guard apply(machine.receiveWindowUpdate(id, increment: Int(increment), at: now)) else { return }
            if let local = locals[id], local.channel != nil {
                // Streams already waiting for room go first (inline, a batch is never in flight to make them).
                if starved.isEmpty { pump(local) } else { starve(local) }
            }
            wakeStarved()
        case .halfClose(let id):
            guard apply(machine.receiveHalfClose(id)) else { return }
            // The peer sends no more DATA on it (frames behind a DATA being decoded wait for it): the bytes its
            // decoder kept for the flow's undecided chunk can go. Not at `remove`: DATA already in flight after
            // this side closed a stream is still decoded, and may need them.
            engine?.decoder.endFlow(id)
            // close(mode: .output) waits for the writes already queued, so no byte is cut off.
            locals[id]?.channel?.close(mode: .output, promise: nil)
            finishIfDone(id)
        case .reset(let id, let code, let reason):
            guard apply(machine.receiveReset(id, at: now)) else { return }
            engine?.decoder.endFlow(id)
            logger("\(peerName) reset stream \(id): \(code): \(LogText.escape(reason))")
            remove(id, abort: true)
        case .ping(let value):
            guard apply(machine.receivePing(at: now)) else { return }
            reply(.pong(value), bytes: TunnelProtocol.frameHeaderSize + 8)
        case .pong(let sent):
            let now = self.now.uptimeNanoseconds
            if now > sent { roundTrip = .nanoseconds(Int64(now - sent)) }
        case .chunkRequest(let fingerprints):
            guard let engine else { return }
            let answers = fingerprints.map { engine.encoder.answer($0) }
            let unanswerable = answers.count { $0 == nil }
            guard apply(machine.receiveChunkRequest(unanswerable: unanswerable, at: now)) else { return }
            for (fingerprint, bytes) in zip(fingerprints, answers) {
                reply(.chunkReply(fingerprint, bytes), bytes: TunnelProtocol.frameHeaderSize + 17 + (bytes?.count ?? 0))
                if bytes != nil { statistics.update { $0.chunksRetransmitted += 1 } }
                if machine.phase == .closed { return }
            }
        case .chunkReply(let fingerprint, let bytes):
            supplied(fingerprint, bytes)
        }
    }

    /// Writes a reply, counted against the reply cap until the socket takes it.
    private func reply(_ frame: TunnelFrame, bytes: Int) {
        guard apply(machine.queueReply(bytes: bytes)), let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { _ in bound.value.replyDone(bytes: bytes) }
        context.write(wrapOutboundOut(frame), promise: promise)
        needsFlush = true
    }

    private func replyDone(bytes: Int) {
        guard machine.replyWritten(bytes: bytes) else { return }
        resumeReading()
    }

    // MARK: Streams

    /// Opens a stream for a local connection the client accepted. The channel must be on this loop.
    ///
    /// - Parameters:
    ///   - held: bytes already read from the connection while it waited for the link (NIO reads everything up to
    ///     an EOF at once), sent once the stream has credit.
    ///   - inputClosed: whether the application's EOF was among them.
    func open(local channel: any Channel, to target: TunnelTarget, held: [ByteBuffer] = [], inputClosed: Bool = false) {
        guard let id = machine.openLocal(at: now) else {
            logger("refusing a local connection for \(target): the link is not ready or is full")
            Self.abort(channel)
            return
        }
        let local = TunnelStream(id: id)
        local.channel = channel
        for bytes in held {
            local.pending.append(bytes)
            local.pendingBytes += bytes.readableBytes
            pendingTotal += bytes.readableBytes
        }
        local.localEOF = inputClosed
        locals[id] = local
        statistics.update {
            $0.activeFlows = machine.streams.count
            $0.openedFlows += 1
        }
        attach(channel, to: id)
        send(.open(stream: id, target: target, window: UInt32(configuration.streamWindow)))
        flushIfNeeded()
    }

    private func attach(_ channel: any Channel, to id: UInt32) {
        let handler = LocalStreamHandler(session: self, stream: id)
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            remove(id, abort: true)
            send(.reset(stream: id, code: .connectFailed, reason: "local pipeline: \(error)"))
        }
    }

    /// Connects a stream the peer opened to its target; the stream counts against the limit meanwhile.
    private func connect(_ id: UInt32, to target: TunnelTarget) {
        guard case .server(let dialer) = role else { return }
        let local = TunnelStream(id: id)
        locals[id] = local
        statistics.update {
            $0.activeFlows = machine.streams.count
            $0.openedFlows += 1
        }
        guard let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        // The dialer resolves the target (through the configured DNS server, if any), checks every address
        // against the allow-list and this peer's permissions, and connects to exactly the address it checked.
        dialer.connect(target, on: loop, timeout: configuration.keepaliveTimeout) { bootstrap in
            bootstrap
                .channelOption(.autoRead, value: false)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        }
            .assumeIsolated()
            .whenComplete { result in bound.value.connected(result, stream: local, target: target) }
    }

    private func connected(_ result: Result<any Channel, any Error>, stream local: TunnelStream, target: TunnelTarget) {
        let id = local.id
        switch result {
        case .success(let channel):
            guard locals[id] === local, machine.connected(id, at: now) else {
                Self.abort(channel)
                return
            }
            local.channel = channel
            attach(channel, to: id)
            send(.windowUpdate(stream: id, increment: UInt32(configuration.streamWindow)))
            requestRead(local)
        case .failure(let error):
            guard locals[id] === local else { return }
            logger("stream \(id) from \(peerName): cannot connect to \(target): \(error)")
            remove(id, abort: false)
            let code = (error as? TunnelError)?.code ?? .connectFailed
            send(.reset(stream: id, code: code, reason: "cannot connect to \(target): \(error)"))
        }
        flushIfNeeded()
    }

    // MARK: Local side (called by LocalStreamHandler)

    func localRead(_ id: UInt32, _ bytes: ByteBuffer) {
        guard let local = locals[id] else { return }
        local.reading = false
        local.pending.append(bytes)
        local.pendingBytes += bytes.readableBytes
        pendingTotal += bytes.readableBytes
    }

    func localReadComplete(_ id: UInt32) {
        guard let local = locals[id] else { return }
        pump(local)
        flushIfNeeded()
    }

    func localInputClosed(_ id: UInt32) {
        guard let local = locals[id] else { return }
        local.localEOF = true
        pump(local)
        flushIfNeeded()
    }

    func localClosed(_ id: UInt32) {
        guard let local = locals[id], let stream = machine.streams[id] else { return }
        if stream.peerHalfClosed, stream.unwritten == 0 {
            // Our side of the connection was already shut and the application's EOF closed the rest:
            // a clean end, whatever was read is still sent.
            local.localEOF = true
            pump(local)
            flushIfNeeded()
            return
        }
        remove(id, abort: false)
        send(.reset(stream: id, code: .linkClosed, reason: "the local connection closed"))
        flushIfNeeded()
    }

    /// Sends what a stream has pending, as far as its credit, the link budget and the socket allow, one batch
    /// at a time (encoded on the pool), then asks for more.
    private func pump(_ local: TunnelStream) {
        let id = local.id
        guard !local.encoding else {
            // A read that came in while the pool encodes this flow: read on, up to ``readAhead``.
            if offload != nil { requestRead(local) }
            return
        }
        // At the input's end, a flow whose last chunk is undecided sends it whole (an empty last batch).
        let finishing = local.localEOF && machine.streams[id]?.sentHalfClose == false
            && engine?.encoder.hasUndecidedBytes(id) == true
        if local.pendingBytes > 0 || finishing {
            let room = machine.sendRoom(id)
            guard room > 0, !encoding, context?.channel.isWritable ?? false, let engine else {
                if encoding || machine.streams[id]?.sendCredit ?? 0 > 0 { starve(local) }
                return
            }
            // A flow that looks like TLS or media skips compression, probing again now and then; it is still
            // chunked and fingerprinted (its chunker state carried across batches), so what repeats is referenced.
            let uncompressed =
                local.incompressibleStreak >= Self.plainAfter && local.plainBatches < local.probeInterval
            // On the pool one job encodes up to `batchesPerEncodeJob` batches of the flow, each its own DATA frame,
            // so the two thread hops are paid once per job rather than once per batch. A probe goes alone: the
            // batches after it are compressed or not by what it found.
            let probe = !uncompressed && local.incompressibleStreak >= Self.plainAfter
            let most = offload == nil || probe ? 1 : Self.batchesPerEncodeJob
            var taken: [EncodeBatch] = []
            var left = room
            repeat {
                let (parts, length) = takeBatch(local, room: min(left, configuration.batchLimit))
                local.pendingBytes -= length
                pendingTotal -= length
                left -= length
                machine.sent(length, on: id, at: now)
                taken.append(EncodeBatch(parts: parts, length: length, last: local.localEOF && local.pendingBytes == 0))
            } while taken.count < most && left > 0 && local.pendingBytes > 0
            let batches = taken
            encoding = true
            local.encoding = true
            encodingStream = id
            if offload != nil { statistics.countPoolJob(encode: true, frames: batches.count) }
            let started = NIODeadline.now()
            run({
                (
                    try batches.map {
                        try engine.encoder.encode(parts: $0.parts, flow: id, compress: !uncompressed, last: $0.last)
                    },
                    engine.encoder.statistics
                )
            }) { session, result in
                session.encoding = false
                local.encoding = false
                session.encodingStream = nil
                // The stream ended while its batch waited or was encoded: `remove` left the flow's state to the
                // batch, and nothing else would forget it.
                if session.locals[id] !== local { engine.encoder.endFlow(id) }
                switch result {
                case .success(let (frames, statistics)):
                    for (data, batch) in zip(frames, batches) {
                        if uncompressed {
                            local.plainBatches += 1
                        } else {
                            let gained = data.encoded.readableBytes < batch.length - batch.length / 32
                            local.noteProbe(gained: gained || !data.references.isEmpty, probe: probe)
                        }
                        session.sendData(
                            data, length: batch.length, on: local, statistics: statistics, uncompressed: uncompressed)
                        TunnelMetrics.shared.frameDone(encode: true, since: started)
                    }
                    // A RESET sent while the job ran goes out after all of its DATA.
                    if let reset = session.resetAfterBatch {
                        session.resetAfterBatch = nil
                        session.send(reset)
                    }
                    // Other streams waiting for the encoder go first; this one queues behind them.
                    if local.pendingBytes > 0 { session.starve(local) }
                    session.wakeStarved()
                    session.pump(local)
                case .failure(let error):
                    session.fail(TunnelError(.decodeFailed, "the encoder failed: \(error)"))
                }
                session.flushIfNeeded()
            }
            // Read ahead while the pool encodes: the socket's next bytes (read cycles up to ``readAhead``, within
            // the stream's credit and the link budget, as any read) are pending when the job returns, so the event
            // loop and the encoder work at once instead of in turn, and the next job finds several batches.
            requestRead(local)
            return
        }
        if local.localEOF, machine.streams[id]?.sentHalfClose == false {
            machine.sentHalfClose(id)
            send(.halfClose(stream: id))
            finishIfDone(id)
        } else {
            requestRead(local)
        }
    }

    /// A stream reads its local connection while its pending bytes are below this (and its credit). Inline, 1:
    /// it reads only when nothing is pending, since a read is encoded as soon as it is complete; on the pool, what fills one encode job, so reads go on while a job
    /// runs and the next one finds several batches. Reads stay within the stream's credit and the link budget
    /// whatever this says.
    private var readAhead: Int { offload == nil ? 1 : Self.batchesPerEncodeJob * configuration.batchLimit }

    /// Takes up to `room` bytes of a stream's pending reads, as the reads themselves (the encoder takes them one
    /// after the other, so they are never joined into one buffer), and their total length.
    private func takeBatch(_ local: TunnelStream, room: Int) -> ([ByteBuffer], Int) {
        guard var head = local.pending.first else { return ([], 0) }
        var parts: [ByteBuffer] = []
        if head.readableBytes <= room {
            parts.append(local.pending.removeFirst())
        } else {
            parts.append(head.readSlice(length: room) ?? ByteBuffer())
            local.pending[local.pending.startIndex] = head
        }
        var taken = parts[0].readableBytes
        while taken < room, let next = local.pending.first, next.readableBytes <= room - taken {
            parts.append(local.pending.removeFirst())
            taken += next.readableBytes
        }
        return (parts, taken)
    }

    private func sendData(
        _ data: TunnelData, length: Int, on local: TunnelStream, statistics encoder: StreamStatistics?,
        uncompressed: Bool = false
    ) {
        send(.data(stream: local.id, data))
        statistics.update {
            $0.applicationBytesSent += UInt64(length)
            if data.isPlain || uncompressed { $0.plainBytesSent += UInt64(length) }
            if let encoder {
                $0.chunks = encoder.chunks
                $0.chunkHits = encoder.windowReferences + encoder.storeReferences
            }
        }
    }

    /// Runs `work` on the pool (or inline without one), then `then` on the event loop unless the link closed.
    private func run<T: Sendable>(
        _ work: @escaping @Sendable () throws -> T, then: @escaping (PeerSession, Result<T, any Error>) -> Void
    ) {
        guard let loop = context?.eventLoop else { return }
        guard let offload else {
            // Inline, a `then` that starts the next batch (or replays held frames) calls back in here: past a few
            // levels the job waits for the loop's next task instead, so no run of batches deepens the stack.
            guard inlineDepth < Self.inlineDepthLimit else {
                inlineDeferrals += 1
                let bound = NIOLoopBound((session: self, then: then), eventLoop: loop)
                loop.execute {
                    let (session, then) = bound.value
                    guard session.machine.phase != .closed else { return }
                    session.run(work, then: then)
                }
                return
            }
            inlineDepth += 1
            defer { inlineDepth -= 1 }
            then(self, Result { try work() })
            return
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        offload.runIfActive(eventLoop: loop, work).assumeIsolated().whenComplete { result in
            let session = bound.value
            guard session.machine.phase != .closed else { return }
            then(session, result)
        }
    }

    private func requestRead(_ local: TunnelStream) {
        // Never more pending than the stream's credit can send: bytes read past it would wait here for the peer.
        guard let channel = local.channel, !local.localEOF, !local.reading,
            let stream = machine.streams[local.id], local.pendingBytes < min(readAhead, stream.sendCredit)
        else { return }
        guard machine.inFlight + pendingTotal < machine.sendBudget, context?.channel.isWritable ?? false else {
            starve(local)
            return
        }
        local.reading = true
        channel.read()
    }

    private func starve(_ local: TunnelStream) {
        if !local.starved {
            local.starved = true
            starved.append(local.id)
        }
    }

    /// Lets waiting streams send, one at a time from the head of the queue, while there is room: a stream that
    /// sent and still has bytes queues behind those still waiting, also when its batch completes inline, inside
    /// this call. Each stream waiting now gets one turn at most.
    private func wakeStarved() {
        var turns = starved.count
        while turns > 0, machine.inFlight < machine.sendBudget, context?.channel.isWritable ?? false,
            let id = starved.popFirst()
        {
            turns -= 1
            guard let local = locals[id] else { continue }
            local.starved = false
            pump(local)
        }
    }

    // MARK: Data from the peer

    /// DATA that passed the state machine's checks (its declared length is charged). Plain DATA is verified
    /// here; engine DATA is decoded on the pool (after its chunks are pinned, and any supplied ones stored),
    /// while the frames behind it wait.
    private func received(_ data: TunnelData, on id: UInt32, _ result: PeerStateMachine.DataResult) {
        guard !data.isPlain else {
            do {
                deliver(try LinkDecoder.verifyPlain(data), declared: Int(data.decodedLength), on: id, result)
            } catch {
                decodeFailed(error, declared: Int(data.decodedLength), on: id)
            }
            return
        }
        decode([ReceivedData(id: id, data: data, result: result)])
    }

    /// Decodes consecutive engine DATA frames in one job, in order, stopping at the first whose chunks are
    /// missing or that fails: that one and those behind it go back to the head of the held frames, so each is
    /// handled exactly as if it had been decoded alone.
    private func decode(_ frames: [ReceivedData]) {
        guard let engine, !frames.isEmpty else { return }
        decoding = true
        decodingHeldBytes = frames.dropFirst().reduce(0) { $0 + PeerStateMachine.heldBytes(of: $1.data) }
        if offload != nil { statistics.countPoolJob(encode: false, frames: frames.count) }
        let supplied = supplies
        supplies.removeAll()
        let work = frames.map { ($0.id, $0.data) }
        let started = NIODeadline.now()
        run({ () -> [DecodeOutcome] in
            for (fingerprint, bytes) in supplied where !engine.decoder.supply(fingerprint, bytes) {
                return [.mismatched(fingerprint)]
            }
            var outcomes: [DecodeOutcome] = []
            for (id, data) in work {
                let missing = engine.decoder.missingReferences(data)
                guard missing.isEmpty else {
                    outcomes.append(.missing(missing))
                    break
                }
                do throws(TunnelError) {
                    outcomes.append(.decoded(try engine.decoder.decode(data, flow: id)))
                } catch {
                    outcomes.append(.failed(error))
                    break
                }
            }
            return outcomes
        }) { session, outcome in
            session.decoding = false
            session.decodingHeldBytes = 0
            switch outcome {
            case .success(let outcomes):
                var undone = frames[...]
                for outcome in outcomes {
                    guard let frame = undone.popFirst() else { break }
                    let declared = Int(frame.data.decodedLength)
                    switch outcome {
                    case .decoded(let bytes):
                        session.deliver(bytes, declared: declared, on: frame.id, frame.result)
                        TunnelMetrics.shared.frameDone(encode: false, since: started)
                    case .missing(let missing):
                        session.statistics.update { $0.chunkMisses += UInt64(missing.count) }
                        // The frames behind it first (each ahead of the previous), then it, ahead of them all.
                        session.holdFirst(undone)
                        guard session.machine.phase != .closed else { return }
                        session.hold(.data(frame.id, frame.data, frame.result), missing: missing, first: true)
                        undone = []
                    case .mismatched(let fingerprint):
                        session.misbehaved(.chunkNotSupplied(fingerprint, mismatched: true))
                        return
                    case .failed(let error):
                        session.decodeFailed(error, declared: declared, on: frame.id)
                    }
                    if session.machine.phase == .closed { return }
                }
                session.holdFirst(undone)
                session.replayHeld()
            case .failure(let error):
                session.fail(TunnelError(.decodeFailed, "the decoder could not run: \(error)"))
            }
            session.resumeReading()
            session.flushIfNeeded()
        }
    }

    /// Puts DATA frames a decode job took but did not decode back at the head of the held frames, in order.
    private func holdFirst(_ frames: ArraySlice<ReceivedData>) {
        for frame in frames.reversed() {
            hold(.data(frame.id, frame.data, frame.result), first: true)
            if machine.phase == .closed { return }
        }
    }

    /// A DATA frame that passed the state machine's checks, with their result.
    private struct ReceivedData {
        let id: UInt32
        let data: TunnelData
        let result: PeerStateMachine.DataResult
    }

    /// What a decode job found.
    private enum DecodeOutcome: Sendable {
        case decoded(ByteBuffer)
        case missing([Fingerprint])
        case mismatched(Fingerprint)
        case failed(TunnelError)
    }

    /// Holds a frame behind the one being decoded or missing chunks, and asks for chunks not yet asked for.
    private func hold(_ frame: PeerStateMachine.HeldFrame, missing: [Fingerprint] = [], first: Bool = false) {
        let (result, request) = machine.hold(frame, missing: missing, first: first, at: now)
        guard apply(result) else { return }
        var rest = request[...]
        while !rest.isEmpty {
            let part = rest.prefix(TunnelProtocol.maximumFingerprintsPerFrame)
            rest = rest.dropFirst(part.count)
            send(.chunkRequest(Array(part)))
            statistics.update { $0.chunkRequests += 1 }
        }
    }

    private func supplied(_ fingerprint: Fingerprint, _ bytes: [UInt8]?) {
        guard apply(machine.receiveChunkReply(fingerprint, supplied: bytes != nil)), let bytes else { return }
        // The next decode job checks the bytes against the fingerprint and stores them, off the event loop.
        supplies.append((fingerprint, bytes))
        replayHeld()
    }

    /// Once nothing is being decoded or awaited, processes the held frames in order until one blocks again.
    private func replayHeld() {
        guard !decoding, var queue = machine.releaseHeld() else { return }
        while let frame = queue.popFirst() {
            if decoding || machine.isBlocked {
                hold(frame)
            } else {
                switch frame {
                case .data(let id, let data, let result) where offload != nil && !data.isPlain:
                    // On the pool, one job decodes the engine DATA frames that follow this one, up to a bound.
                    var frames = [ReceivedData(id: id, data: data, result: result)]
                    while frames.count < Self.framesPerDecodeJob,
                        case .data(let id, let data, let result)? = queue.first, !data.isPlain
                    {
                        queue.removeFirst()
                        frames.append(ReceivedData(id: id, data: data, result: result))
                    }
                    decode(frames)
                case .data(let id, let data, let result): received(data, on: id, result)
                case .frame(let frame): process(frame)
                }
            }
            if machine.phase == .closed { return }
        }
    }

    private func decodeFailed(_ error: TunnelError, declared: Int, on id: UInt32) {
        machine.discarded(declared)
        if error.code == .checksumMismatch, machine.streams[id] != nil {
            logger("stream \(id) from \(peerName): \(error); resetting it")
            remove(id, abort: true)
            send(.reset(stream: id, code: .checksumMismatch, reason: error.message))
            return
        }
        fail(TunnelError(error.code, "\(peerName): \(error.message)"))
    }

    /// Hands verified bytes to the stream's local connection, or drops them for a stream closed here.
    private func deliver(_ bytes: ByteBuffer, declared: Int, on id: UInt32, _ result: PeerStateMachine.DataResult) {
        // An empty DATA (a flow's last chunk, decided at its end, whose bytes were delivered before) returns no
        // credit: a WINDOW_UPDATE of 0 is a protocol violation.
        guard declared > 0 else { return }
        guard result == .deliver, let channel = locals[id]?.channel else {
            machine.discarded(declared)
            return
        }
        machine.handedOver(declared, on: id)
        statistics.update { $0.applicationBytesReceived += UInt64(declared) }
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        channel.writeAndFlush(bytes).assumeIsolated().whenComplete { result in
            bound.value.written(declared, on: id, success: (try? result.get()) != nil)
        }
    }

    private func written(_ length: Int, on id: UInt32, success: Bool) {
        let increment = machine.written(length, on: id, success: success, at: now, roundTrip: roundTrip)
        guard machine.phase == .ready, machine.streams[id] != nil else { return }
        if let increment {
            send(.windowUpdate(stream: id, increment: UInt32(increment)))
            finishIfDone(id)
        } else {
            remove(id, abort: true)
            send(.reset(stream: id, code: .linkClosed, reason: "the local connection stopped accepting data"))
        }
        flushIfNeeded()
    }

    private func finishIfDone(_ id: UInt32) {
        guard machine.isDone(id) else { return }
        remove(id, abort: false)
    }

    /// Forgets a stream and closes its local connection: with a TCP reset when `abort`, else gracefully.
    private func remove(_ id: UInt32, abort: Bool) {
        let removed = machine.remove(id)
        let local = locals.removeValue(forKey: id)
        guard removed != nil || local != nil else { return }
        // The decoder's per-flow bytes of streams the machine no longer remembers (no DATA is accepted on them)
        // are dropped once they outnumber the streams it can remember (open and recently closed).
        engine?.decoder.forgetFlows(above: 2 * configuration.maximumStreams) { machine.accepts(dataOn: $0) }
        pendingTotal -= local?.pendingBytes ?? 0
        local?.pendingBytes = 0
        // A batch still to be encoded or in flight continues the flow's chunk as the peer's decoder expects; its
        // completion forgets the flow.
        if local?.encoding != true { engine?.encoder.endFlow(id) }
        statistics.update {
            $0.activeFlows = machine.streams.count
            if abort { $0.resetFlows += 1 }
        }
        if let channel = local?.channel {
            if abort { Self.abort(channel) } else { channel.close(promise: nil) }
        }
        local?.channel = nil
        wakeStarved()
        if machine.draining && machine.streams.isEmpty { context?.close(promise: nil) }
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
        guard machine.phase != .closed, let context else { return }
        machine.startDraining()
        if machine.streams.isEmpty {
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
        guard machine.phase != .closed, let context else { return }
        logger("closing the link to \(peerName): \(error)")
        context.writeAndFlush(wrapOutboundOut(.goAway(code: error.code, reason: error.message)), promise: nil)
        context.close(promise: nil)
        teardown(reason: error.description)
    }

    /// Ends the link's life here: resets the open streams and lets go of everything the link held.
    private func teardown(reason: String) {
        guard machine.phase != .closed else { return }
        machine.close()
        keepalive?.cancel()
        keepalive = nil
        // Before the streams go: each one removed releases link budget, which must not wake a waiting flow (its
        // batch would be encoded, and inline also counted as sent, for a link that is gone).
        starved.removeAll()
        let open = Set(machine.streams.keys).union(locals.keys).sorted()
        for id in open { remove(id, abort: true) }
        if !open.isEmpty { logger("\(reason): reset \(open.count) open stream(s)") }
        supplies.removeAll()
        engine = nil
        context = nil
        onReady = nil
        onClose?(self)
        onClose = nil
    }

    private func send(_ frame: TunnelFrame) {
        guard machine.phase != .closed, let context else { return }
        if case .reset(let id, _, _) = frame, id == encodingStream {
            resetAfterBatch = frame
            return
        }
        let promise = timingFlush ? nil : context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(frame), promise: promise)
        if let promise { flushProbe = promise }
        needsFlush = true
    }

    /// Flushes what `send` wrote; when no flush is being timed, times this one until the socket has taken the
    /// last frame written before it (`replica_flush_seconds`).
    private func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        if let probe = flushProbe {
            flushProbe = nil
            timingFlush = true
            let started = NIODeadline.now()
            probe.futureResult.assumeIsolated().whenComplete { result in
                if case .success = result { TunnelMetrics.shared.flushDone(since: started) }
                self.timingFlush = false
            }
        }
        context.flush()
    }
}

/// The local side of one stream: its socket, the bytes read from it and not yet sent, and how its flow is
/// carried. The stream's accounting lives in ``PeerStateMachine``.
final class TunnelStream {
    let id: UInt32
    /// The local TCP connection, once there is one.
    var channel: (any Channel)?
    /// Bytes read from the local connection, not yet sent.
    var pending = CircularBuffer<ByteBuffer>()
    var pendingBytes = 0
    var localEOF = false
    var reading = false
    var starved = false
    /// A batch of this stream is being encoded.
    var encoding = false
    /// Encoded batches in a row that neither compressed nor deduplicated.
    var incompressibleStreak = 0
    /// Plain batches since the last probe through the engine.
    var plainBatches = 0
    /// Plain batches between two probes now (grows while probes find nothing).
    var probeInterval = PeerSession.probeEvery

    init(id: UInt32) { self.id = id }

    /// Counts a batch that went through the engine: one that gained (compressed by 1/32 or referenced a chunk)
    /// resets the streak and the probe interval; a `probe` of a plain flow that gained nothing doubles the
    /// interval. A batch that was no probe never doubles it, even past the streak: an encode job decides for all
    /// its batches at once, so the ones behind the batch that completed the streak were compressed all the same.
    func noteProbe(gained: Bool, probe: Bool) {
        if gained {
            incompressibleStreak = 0
            probeInterval = PeerSession.probeEvery
        } else {
            if probe {
                probeInterval = min(probeInterval * 2, PeerSession.longestProbeInterval)
            }
            incompressibleStreak += 1
        }
        plainBatches = 0
    }
}

/// A stream's bytes one DATA frame carries, as an encode job takes them.
struct EncodeBatch: Sendable {
    /// The reads, in order (the encoder takes them one after the other).
    let parts: [ByteBuffer]
    /// Their total length.
    let length: Int
    /// Whether the flow's input ends with them.
    let last: Bool
}

/// One link's encoder and decoder, handed to pool threads.
///
/// `@unchecked Sendable`: the session runs at most one encode and one decode job at a time and touches the
/// encoder on the event loop only through ``LinkEncoder/answer(_:)``, which locks.
final class LinkEngine: @unchecked Sendable {
    let encoder: LinkEncoder
    let decoder: LinkDecoder

    init(encoder: LinkEncoder, decoder: LinkDecoder) {
        self.encoder = encoder
        self.decoder = decoder
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
