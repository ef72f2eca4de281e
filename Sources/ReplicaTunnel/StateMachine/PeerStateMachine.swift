import NIOCore
import ReplicaCore

/// The state of one peer link as a value: the handshake, every stream's credit in both directions, the link
/// budget, pending connects, miss recovery, the reply queue and the rate limits. It performs no I/O.
///
/// Modelled on swift-nio-http2's `ConnectionStateMachine`: each frame from the peer goes through one transition,
/// which updates the state and answers with a ``Result``: go ahead, reset one stream, or close the link because
/// the peer misbehaved (naming what it did). ``PeerSession`` drives it and does what the results say; unit tests
/// feed it frames with no channel at all. Times are passed in, so tests use any clock.
struct PeerStateMachine {
    /// Which end of the link this is.
    enum Role {
        /// The near end: opens streams.
        case client
        /// The far end: accepts OPEN frames, and dials the targets the dialer permits for this peer.
        case server(TargetDialer)
    }

    enum Phase: Equatable { case handshaking, ready, closed }

    /// The accounting of one stream.
    struct Stream: Equatable {
        /// A stream is `connecting` until its target connection is up (the acceptor's first WINDOW_UPDATE, at the
        /// opener); DATA before that is a protocol violation.
        enum State: Equatable { case connecting, open }
        var state: State
        /// Decoded bytes this end may still send.
        var sendCredit: Int
        /// Bytes sent and not yet credited back.
        var outstanding = 0
        /// Decoded bytes the peer may still send.
        var receiveAllowance: Int
        /// The receive window now: the initial window, grown by tuning.
        var window: Int
        /// Bytes received and handed to the local connection, not yet written by it.
        var unwritten = 0
        var peerHalfClosed = false
        var sentHalfClose = false
        /// When anything last moved on the stream.
        var lastActivity: NIODeadline
        /// Bytes delivered since `epochStart`, the start of the current window-tuning period.
        var deliveredInEpoch = 0
        var epochStart: NIODeadline?
    }

    /// What a transition asks the driver to do.
    enum Result: Equatable {
        /// Go ahead with the frame.
        case proceed
        /// Drop the frame: it concerns a stream already closed here.
        case ignore
        /// Send RESET for the stream (the link stays up).
        case resetStream(UInt32, TunnelError)
        /// Send GOAWAY and close the link: the peer misbehaved.
        case closeLink(PeerViolation)
    }

    /// What to do with a DATA frame.
    enum DataResult: Equatable {
        /// Decode it and deliver the bytes to the stream.
        case deliver
        /// The stream was closed here: decode it only to keep the direction's decoder in step, then call
        /// ``discarded(_:)`` and drop the bytes.
        case discard
        /// Send GOAWAY and close the link.
        case closeLink(PeerViolation)
    }

    let role: Role
    let configuration: TunnelConfiguration
    private(set) var phase = Phase.handshaking
    private(set) var draining = false
    private(set) var streams: [UInt32: Stream] = [:]
    /// Streams closed here, with the credit the peer still held on each: DATA in flight for them is accepted up to
    /// that credit and discarded. Bounded to ``TunnelConfiguration/maximumStreams`` entries.
    private var closedStreams: [UInt32: Int] = [:]
    private var closedOrder = CircularBuffer<UInt32>()
    /// Streams that finished here (both sides half-closed, everything written) while the peer had not yet
    /// credited back all the bytes this end sent: those bytes stay in ``inFlight`` until the peer's
    /// WINDOW_UPDATEs for them arrive (it still counts them against its budget until it has written them), or
    /// until it resets the stream or the entry is forgotten with ``closedStreams``.
    private var finishedOutstanding: [UInt32: Int] = [:]
    private var nextStreamID: UInt32
    private var lastPeerStream: UInt32 = 0
    /// The most decoded bytes this end may have in flight to the peer (the smaller of both budgets).
    private(set) var sendBudget = 0
    private(set) var inFlight = 0
    /// Decoded bytes accepted from the peer (declared by DATA frames) and not yet credited back.
    private(set) var receivedUncredited = 0
    private var defences: LinkDefences
    /// Replies written and not yet taken by the socket.
    private(set) var queuedControlFrames = 0
    private(set) var queuedControlBytes = 0
    private(set) var readingPaused = false
    /// Fingerprints asked for, with the deadline of each.
    private(set) var awaiting: [Fingerprint: NIODeadline] = [:]
    /// A frame held behind a DATA frame whose chunks are missing.
    enum HeldFrame: Equatable {
        /// DATA already checked and charged by ``receiveData(_:declaredLength:at:)``.
        case data(UInt32, TunnelData, DataResult)
        /// OPEN, HALF_CLOSE or RESET, processed in order once the DATA before it is delivered.
        case frame(TunnelFrame)
    }

    /// The frames held behind a DATA frame whose chunks are missing; the head is that frame.
    private(set) var blocked = CircularBuffer<HeldFrame>()
    private(set) var blockedBytes = 0
    private var unscopedRequests = 0

    init(role: Role, configuration: TunnelConfiguration) {
        self.role = role
        self.configuration = configuration
        self.defences = LinkDefences(configuration.limits)
        if case .server = role { nextStreamID = 2 } else { nextStreamID = 1 }
    }

    private var limits: TunnelLimits { configuration.limits }

    // MARK: Handshake

    /// The peer's first frame must be its hello, of this version, with this end's fingerprint key and a usable
    /// frame limit and budget.
    mutating func receiveHello(_ hello: TunnelHello) -> Result {
        guard phase == .handshaking else { return .closeLink(.secondHello) }
        guard hello.version == TunnelProtocol.version else { return .closeLink(.versionMismatch(hello.version)) }
        let keyCheck = configuration.encoder.fingerprinter.keyCheck
        guard hello.fingerprintKeyCheck == keyCheck else {
            return .closeLink(.fingerprintKeyMismatch(peer: hello.fingerprintKeyCheck, own: keyCheck))
        }
        guard Int(hello.frameLimit) >= TunnelProtocol.minimumFrameLimit, hello.receiveBudget > 0 else {
            return .closeLink(.badHello)
        }
        sendBudget = min(configuration.linkBudget, Int(hello.receiveBudget))
        phase = .ready
        return .proceed
    }

    /// Any frame but a hello during the handshake.
    func receiveBeforeHello(_ kind: TunnelFrame.Kind) -> Result { .closeLink(.frameBeforeHello(kind)) }

    /// Closes the link: frames held for replay and the chunks awaited for them are dropped, so nothing is
    /// replayed on a closed link and their bytes go at once.
    mutating func close() {
        phase = .closed
        blocked.removeAll()
        blockedBytes = 0
        awaiting.removeAll()
    }

    mutating func startDraining() { draining = true }

    // MARK: Opening streams

    /// Opens a stream for a local connection (the client). Returns its ID, or `nil` when the link is not ready,
    /// is draining, or already holds the most streams.
    mutating func openLocal(at now: NIODeadline) -> UInt32? {
        guard phase == .ready, !draining, streams.count < configuration.maximumStreams, nextStreamID < UInt32.max - 2
        else { return nil }
        let id = nextStreamID
        nextStreamID += 2
        let window = configuration.streamWindow
        streams[id] = Stream(state: .connecting, sendCredit: 0, receiveAllowance: window, window: window, lastActivity: now)
        return id
    }

    /// An OPEN from the peer. `.proceed` means: connect to the target, then call ``connected(_:at:)``. The stream
    /// counts against ``TunnelConfiguration/maximumStreams`` from now on, while its connect is pending too.
    mutating func receiveOpen(_ id: UInt32, target: TunnelTarget, window: UInt32, at now: NIODeadline) -> Result {
        guard case .server(let dialer) = role else { return .closeLink(.serverOpenedStream(id)) }
        guard id % 2 == 1, id > lastPeerStream else { return .closeLink(.streamOutOfOrder(id, last: lastPeerStream)) }
        if let violation = defences.admit(.open, at: now) { return .closeLink(violation) }
        lastPeerStream = id
        guard !draining else { return .resetStream(id, TunnelError(.shuttingDown, "the server is shutting down")) }
        guard streams.count < configuration.maximumStreams else {
            return .resetStream(id, TunnelError(.tooManyStreams, "\(streams.count) streams are open"))
        }
        // Names are checked once resolved, by the dialer; what can be refused now is refused before a stream counts.
        if let refusal = dialer.earlyRefusal(of: target) { return .resetStream(id, refusal) }
        let ownWindow = configuration.streamWindow
        streams[id] = Stream(
            state: .connecting, sendCredit: Int(window), receiveAllowance: ownWindow, window: ownWindow,
            lastActivity: now)
        return .proceed
    }

    /// The target connection of a stream the peer opened is up. Returns `false` when the stream is gone.
    mutating func connected(_ id: UInt32, at now: NIODeadline) -> Bool {
        guard phase == .ready, streams[id] != nil else { return false }
        streams[id]?.state = .open
        streams[id]?.lastActivity = now
        return true
    }

    /// Whether DATA on a stream is still accepted: it is open, or closed here recently enough to be remembered.
    func accepts(dataOn id: UInt32) -> Bool { streams[id] != nil || closedStreams[id] != nil }

    /// Whether the peer opened, or this end opened, a stream with this ID at some time.
    private func wasOpened(_ id: UInt32) -> Bool {
        let peerOpens = role.isServer ? id % 2 == 1 : id % 2 == 0
        return peerOpens ? id <= lastPeerStream && id != 0 : id < nextStreamID
    }

    // MARK: Data from the peer

    /// A DATA frame, checked before a byte of it is decoded: its stream must be open (or recently closed here),
    /// and its declared decoded length must fit the stream's credit and what is left of the link's budget. The
    /// length is charged at once.
    mutating func receiveData(_ id: UInt32, declaredLength: Int, at now: NIODeadline) -> DataResult {
        let budgetLeft = configuration.linkBudget - receivedUncredited
        if var stream = streams[id] {
            guard stream.state == .open else { return .closeLink(.frameOnUnopenedStream(.data, id)) }
            guard declaredLength <= stream.receiveAllowance else {
                return .closeLink(.streamCreditExceeded(id, declared: declaredLength, credit: stream.receiveAllowance))
            }
            guard declaredLength <= budgetLeft else {
                return .closeLink(.linkBudgetExceeded(id, declared: declaredLength, budget: budgetLeft))
            }
            stream.receiveAllowance -= declaredLength
            stream.lastActivity = now
            streams[id] = stream
            receivedUncredited += declaredLength
            return .deliver
        }
        if let credit = closedStreams[id] {
            guard declaredLength <= credit else {
                return .closeLink(.streamCreditExceeded(id, declared: declaredLength, credit: credit))
            }
            guard declaredLength <= budgetLeft else {
                return .closeLink(.linkBudgetExceeded(id, declared: declaredLength, budget: budgetLeft))
            }
            closedStreams[id] = credit - declaredLength
            receivedUncredited += declaredLength
            return .discard
        }
        // Opened once but forgotten (more closed streams than the bound): as good as never opened.
        return .closeLink(.frameOnUnopenedStream(.data, id))
    }

    /// Bytes of a discarded DATA frame (or of one whose stream went away before delivery) are dropped.
    mutating func discarded(_ length: Int) {
        receivedUncredited -= length
    }

    /// Bytes of a stream were handed to its local connection.
    mutating func handedOver(_ length: Int, on id: UInt32) {
        streams[id]?.unwritten += length
    }

    /// The local connection wrote (or failed to write) `length` bytes of a stream. Returns the WINDOW_UPDATE
    /// increment to send (the bytes, plus window growth when the whole window was used within two round trips),
    /// or `nil` when the stream is gone or the write failed.
    mutating func written(
        _ length: Int, on id: UInt32, success: Bool, at now: NIODeadline, roundTrip: TimeAmount?
    ) -> Int? {
        receivedUncredited -= length
        guard var stream = streams[id] else { return nil }
        stream.unwritten -= length
        guard success, phase == .ready else {
            streams[id] = stream
            return nil
        }
        var growth = 0
        if let roundTrip {
            let start = stream.epochStart ?? now
            stream.epochStart = start
            stream.deliveredInEpoch += length
            if stream.deliveredInEpoch >= stream.window {
                let fast = now - start < roundTrip * 2
                stream.deliveredInEpoch = 0
                stream.epochStart = now
                if fast, stream.window < configuration.maximumStreamWindow {
                    growth = min(stream.window, configuration.maximumStreamWindow - stream.window)
                    stream.window += growth
                }
            }
        }
        stream.receiveAllowance += length + growth
        stream.lastActivity = now
        streams[id] = stream
        return length + growth
    }

    /// WINDOW_UPDATE: releases in-flight bytes and raises the stream's credit; the first one on a stream this end
    /// opened means its target is connected.
    mutating func receiveWindowUpdate(_ id: UInt32, increment: Int, at now: NIODeadline) -> Result {
        guard var stream = streams[id] else {
            releaseFinished(id, upTo: increment)
            return wasOpened(id) ? .ignore : .closeLink(.frameOnUnopenedStream(.windowUpdate, id))
        }
        let released = min(increment, stream.outstanding)
        guard stream.sendCredit + increment <= 1 << 31 else { return .closeLink(.creditOverflow(id)) }
        stream.outstanding -= released
        inFlight -= released
        stream.sendCredit += increment
        stream.state = .open
        stream.lastActivity = now
        streams[id] = stream
        return .proceed
    }

    /// HALF_CLOSE: the peer sends no more on the stream.
    mutating func receiveHalfClose(_ id: UInt32) -> Result {
        guard streams[id] != nil else {
            return wasOpened(id) ? .ignore : .closeLink(.frameOnUnopenedStream(.halfClose, id))
        }
        guard streams[id]?.peerHalfClosed == false else { return .ignore }
        streams[id]?.peerHalfClosed = true
        return .proceed
    }

    /// RESET from the peer: rate-limited; `.proceed` means remove the stream (``remove(_:)``).
    mutating func receiveReset(_ id: UInt32, at now: NIODeadline) -> Result {
        if let violation = defences.admit(.reset, at: now) { return .closeLink(violation) }
        releaseFinished(id)  // a reset stream sends no more credit: what it held is released
        return streams[id] == nil ? .ignore : .proceed
    }

    /// PING: rate-limited; `.proceed` means answer with PONG (through ``queueReply(bytes:)``).
    mutating func receivePing(at now: NIODeadline) -> Result {
        if let violation = defences.admit(.ping, at: now) { return .closeLink(violation) }
        return .proceed
    }

    // MARK: Sending

    /// How many bytes a stream may send now: its credit, within the link budget.
    func sendRoom(_ id: UInt32) -> Int {
        guard let stream = streams[id] else { return 0 }
        return min(stream.sendCredit, sendBudget - inFlight)
    }

    /// `length` bytes of a stream went out in a DATA frame.
    mutating func sent(_ length: Int, on id: UInt32, at now: NIODeadline) {
        guard var stream = streams[id] else { return }
        stream.sendCredit -= length
        stream.outstanding += length
        stream.lastActivity = now
        streams[id] = stream
        inFlight += length
    }

    mutating func sentHalfClose(_ id: UInt32) { streams[id]?.sentHalfClose = true }

    /// Whether both directions of a stream are finished and every byte received was written.
    func isDone(_ id: UInt32) -> Bool {
        guard let stream = streams[id] else { return false }
        return stream.sentHalfClose && stream.peerHalfClosed && stream.unwritten == 0
    }

    /// Forgets a stream; DATA the peer already sent on it is still accepted, up to the credit it held.
    @discardableResult
    mutating func remove(_ id: UInt32) -> Stream? {
        guard let stream = streams.removeValue(forKey: id) else { return nil }
        let finished = stream.sentHalfClose && stream.peerHalfClosed && stream.unwritten == 0
        if finished && stream.outstanding > 0 {
            // The peer is still writing these bytes and will credit them back: keep them charged until then.
            finishedOutstanding[id] = stream.outstanding
        } else {
            inFlight -= stream.outstanding
        }
        closedStreams[id] = stream.receiveAllowance
        closedOrder.append(id)
        while closedOrder.count > configuration.maximumStreams, let oldest = closedOrder.popFirst() {
            closedStreams.removeValue(forKey: oldest)
            releaseFinished(oldest)
        }
        return stream
    }

    /// Releases up to `limit` bytes still charged for a stream that finished here (all of them by default).
    private mutating func releaseFinished(_ id: UInt32, upTo limit: Int = .max) {
        guard let held = finishedOutstanding[id] else { return }
        let released = min(limit, held)
        inFlight -= released
        finishedOutstanding[id] = held - released > 0 ? held - released : nil
    }

    /// Streams on which nothing moved for the idle timeout.
    func idleStreams(at now: NIODeadline) -> [UInt32] {
        streams.filter { now - $0.value.lastActivity > limits.streamIdleTimeout }.map(\.key).sorted()
    }

    // MARK: Replies

    /// A reply (PONG, CHUNK_REPLY) of `bytes` is about to be written. Past the cap the link closes.
    mutating func queueReply(bytes: Int) -> Result {
        queuedControlFrames += 1
        queuedControlBytes += bytes
        if queuedControlFrames > limits.maximumQueuedControlFrames || queuedControlBytes > limits.maximumQueuedControlBytes {
            return .closeLink(.controlQueueFull(frames: queuedControlFrames, bytes: queuedControlBytes))
        }
        if queuedControlFrames >= limits.maximumQueuedControlFrames / 8
            || queuedControlBytes >= limits.maximumQueuedControlBytes / 8
        {
            readingPaused = true
        }
        return .proceed
    }

    /// A reply left for the socket (or was dropped with the link). Returns `true` when reading may resume.
    mutating func replyWritten(bytes: Int) -> Bool {
        queuedControlFrames -= 1
        queuedControlBytes -= bytes
        guard readingPaused, queuedControlFrames <= limits.maximumQueuedControlFrames / 16,
            queuedControlBytes <= limits.maximumQueuedControlBytes / 16
        else { return false }
        readingPaused = false
        return true
    }

    // MARK: Chunk requests from the peer

    /// A CHUNK_REQUEST naming `count` fingerprints, of which `unanswerable` were not referenced on this link,
    /// are no longer retained, or were already answered: rate-limited per frame, and the unanswerable ones
    /// against a budget.
    mutating func receiveChunkRequest(unanswerable: Int, at now: NIODeadline) -> Result {
        if let violation = defences.admit(.chunkRequest, at: now) { return .closeLink(violation) }
        unscopedRequests += unanswerable
        guard unscopedRequests <= limits.unscopedChunkRequestBudget else {
            return .closeLink(.unscopedChunkRequests(unscopedRequests))
        }
        return .proceed
    }

    // MARK: Miss recovery

    /// Whether frames are held behind a DATA frame with missing chunks.
    var isBlocked: Bool { !blocked.isEmpty }

    /// Holds a frame while the DATA before it is decoded or its chunks are fetched; a DATA frame with `missing`
    /// chunks goes `first` (it was taken from the head) and returns the fingerprints to ask for (those not already
    /// asked for). Past the byte cap (the link budget plus ``TunnelLimits/maximumMissQueueBytes``) the link closes.
    mutating func hold(
        _ frame: HeldFrame, missing: [Fingerprint] = [], first: Bool = false, at now: NIODeadline
    ) -> (Result, request: [Fingerprint]) {
        let size: Int
        if case .data(_, let data, _) = frame {
            size = Self.heldBytes(of: data)
        } else {
            size = 64
        }
        blockedBytes += size
        // A peer within its credit has at most the link budget in flight; encoded bytes beyond that by more
        // than the limit are a lie about lengths.
        let cap = configuration.linkBudget + limits.maximumMissQueueBytes
        guard blockedBytes <= cap else { return (.closeLink(.missQueueFull(bytes: blockedBytes, limit: cap)), []) }
        if first { blocked.prepend(frame) } else { blocked.append(frame) }
        let deadline = now + limits.chunkReplyTimeout
        var request: [Fingerprint] = []
        for fingerprint in missing where awaiting[fingerprint] == nil {
            awaiting[fingerprint] = deadline
            request.append(fingerprint)
        }
        return (.proceed, request)
    }

    /// The bytes a held DATA frame counts against the held frames' bounds: its encoded bytes and references.
    static func heldBytes(of data: TunnelData) -> Int {
        data.encoded.readableBytes + Fingerprint.byteCount * data.references.count
    }

    /// A CHUNK_REPLY. `.proceed` means: supply the bytes to the decoder; a reply not asked for closes the link.
    mutating func receiveChunkReply(_ fingerprint: Fingerprint, supplied: Bool) -> Result {
        guard awaiting.removeValue(forKey: fingerprint) != nil else {
            return .closeLink(.unsolicitedChunkReply(fingerprint))
        }
        return supplied ? .proceed : .closeLink(.chunkNotSupplied(fingerprint, mismatched: false))
    }

    /// When nothing is awaited, hands over the held frames to replay (in order); never on a closed link.
    mutating func releaseHeld() -> CircularBuffer<HeldFrame>? {
        guard phase != .closed, awaiting.isEmpty, !blocked.isEmpty else { return nil }
        let frames = blocked
        blocked.removeAll()
        blockedBytes = 0
        return frames
    }

    /// The first chunk asked for whose reply is overdue at `now`.
    func overdueChunk(at now: NIODeadline) -> PeerViolation? {
        guard let (fingerprint, deadline) = awaiting.min(by: { $0.value < $1.value }), deadline < now else {
            return nil
        }
        let late = (now - deadline + limits.chunkReplyTimeout).nanoseconds / 1_000_000
        return .chunkReplyOverdue(fingerprint, milliseconds: late)
    }
}

extension PeerStateMachine.Role {
    var isServer: Bool {
        if case .server = self { true } else { false }
    }
}
