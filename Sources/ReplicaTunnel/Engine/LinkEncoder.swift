
public import NIOCore
public import ReplicaCore
import Synchronization

/// The sending half of one direction of a peer link: one ``StreamEncoder`` shared by every flow, so a chunk that
/// crossed once, in any flow, crosses again as a reference.
///
/// Each call to ``encode(_:flow:compress:)`` encodes one batch of one flow's bytes and flushes, so the result is a
/// sequence of whole blocks that the peer's ``LinkDecoder`` can decode alone. Each flow keeps its own chunker
/// state across batches (the flush does not cut a chunk), so a flow's chunk boundaries are those of its bytes,
/// whatever the read sizes and whatever other flows do in between. The store references the batch makes are listed
/// in the result; the bytes of each referenced chunk are retained (up to ``retentionLimit`` bytes, at least the
/// link's in-flight budget) so a CHUNK_REQUEST for them can always be answered.
///
/// Not thread-safe: use it from one event loop.
public final class LinkEncoder {
    private let encoder: StreamEncoder
    private let recorder: ReferenceRecorder
    private var scratch: [UInt8] = []
    /// The DATA payloads handed out, in storage reused once the socket let go of the previous one.
    private var payloads = RecycledBuffer()
    /// The DATA checksum of the batch (``LinkChecksum``), over its pieces.
    private let checksum: XXH3Stream128
    /// The chunker state of each flow between its batches (at most a maximum chunk each), and the flow being
    /// encoded. Locked: ``endFlow(_:)`` comes from the event loop while a batch may be encoded on the pool.
    private let flows = Mutex(FlowStates<Chunker>(size: \.bufferedCount))
    /// The most undecided bytes left delivered ahead of their chunks across all flows; a flush that would leave
    /// more cuts the flow's chunk (``TunnelProtocol/sentCarriedByteLimit``; tests raise it to play a hostile peer).
    var carriedByteLimit = TunnelProtocol.sentCarriedByteLimit

    /// Creates the encoder for one direction.
    ///
    /// - Parameters:
    ///   - configuration: chunking, codec and window settings.
    ///   - store: the local store: chunks it holds may be sent as references, new chunks are added to it.
    ///   - retentionLimit: how many bytes of referenced chunks to keep for answering CHUNK_REQUEST.
    /// - Throws: ``CodecError`` when a compression context cannot be created.
    public init(configuration: EncoderConfiguration, store: any ChunkWriting, retentionLimit: Int) throws {
        self.recorder = ReferenceRecorder(store: store, retentionLimit: retentionLimit)
        self.checksum = try XXH3Stream128()
        self.encoder = try StreamEncoder(configuration: configuration, store: recorder)
        // The peer resolves a store run from the frame's reference list alone (its store's order is not ours).
        encoder.runsFollowDependencyList = true
    }

    /// The encoder's counters so far.
    public var statistics: StreamStatistics { encoder.statistics }

    /// Names what the peer's store is known to hold. Until this is called the encoder references nothing
    /// outside its window: every chunk the peer lacks is sent as a literal.
    func setPeer(_ knowledge: PeerKnowledge) { recorder.setPeer(knowledge) }

    /// Encodes and flushes one batch of one flow's bytes.
    ///
    /// - Parameters:
    ///   - bytes: the batch.
    ///   - compress: `false` for a flow found incompressible: its chunks are still fingerprinted, stored and sent
    ///     as references when they repeat, but new chunks travel raw without a compression attempt.
    /// - Returns: the DATA payload: encoded blocks, the decoded length and checksum, the store references.
    /// - Throws: ``CodecError`` or ``ChunkStoreError``; either leaves the direction unusable.
    ///   - flow: the flow the batch belongs to; its chunker state carries over to its next batch. `nil` cuts the
    ///     batch's last chunk at its end (a forced cut) and keeps no state.
    ///   - last: the flow's input has ended after this batch (which may be empty): its last chunk is cut where
    ///     the input ends and sent whole, so both stores hold it (its start may have been delivered already,
    ///     as a transient literal).
    public func encode(
        _ bytes: ByteBuffer, flow: UInt32? = nil, compress: Bool = true, last: Bool = false
    ) throws -> TunnelData {
        try encode(parts: CollectionOfOne(bytes), flow: flow, compress: compress, last: last)
    }

    /// Encodes and flushes one batch given as consecutive pieces (a flow's reads, taken without joining them):
    /// the same payload as ``encode(_:flow:compress:last:)`` of the pieces joined.
    func encode(
        parts: some Collection<ByteBuffer>, flow: UInt32? = nil, compress: Bool = true, last: Bool = false
    ) throws -> TunnelData {
        scratch.removeAll(keepingCapacity: true)
        recorder.beginBatch()
        encoder.compressesLiterals = compress
        var flowChunker: Chunker?
        if let flow {
            let own = flows.withLock { $0.begin(flow) } ?? Chunker(encoder.configuration.chunker)
            flowChunker = encoder.exchangeChunker(own)
        }
        defer {
            if let flow, let shared = flowChunker {
                let own = encoder.exchangeChunker(shared)
                flows.withLock { $0.end(flow, keeping: own) }
            }
        }
        var length = 0
        checksum.reset()
        for part in parts {
            try part.withUnsafeReadableBytes { buffer in
                try encoder.encode(buffer, into: &scratch)
                checksum.update(buffer)
            }
            length += part.readableBytes
        }
        // The receiver carries each flow's undecided bytes until their chunk ends: within its bound, or cut now.
        let carriedElsewhere = flows.withLock { $0.totalSize }
        let overCarried = carriedElsewhere + encoder.undecidedByteCount > carriedByteLimit
        try encoder.flush(into: &scratch, cutChunk: flow == nil || last || overCarried)
        return TunnelData(
            decodedLength: UInt32(length), checksum: checksum.digest.low,
            references: recorder.endBatch(retaining: encoder.takeStoreDependencies()),
            encoded: scratch.withUnsafeBytes { payloads.fill($0) })
    }

    /// Whether a flow's chunker holds bytes whose chunk is not decided yet (already delivered at a flush): the
    /// flow's last chunk, which a batch with `last` sends whole when the flow's input ends.
    public func hasUndecidedBytes(_ flow: UInt32) -> Bool {
        flows.withLock { ($0.state(of: flow)?.bufferedCount ?? 0) > 0 }
    }

    /// Forgets a flow's chunker state (when the flow ends). Safe to call while a batch is being encoded.
    public func endFlow(_ flow: UInt32) {
        flows.withLock { $0.forget(flow) }
    }

    /// The bytes of a chunk the peer asks for, when this link referenced it and still retains it, and has not
    /// yet answered as many requests for it as it sent references. Never read from the store: the peer can only
    /// obtain chunks that were meant for it.
    public func answer(_ fingerprint: Fingerprint) -> [UInt8]? {
        recorder.answer(fingerprint)
    }

    /// The bytes of referenced chunks retained now (for tests and statistics).
    package var retainedBytes: Int { recorder.retainedBytes }
}

/// The per-flow states of one direction of a link between a flow's batches: each flow's chunker on the sending
/// end, and on the receiving end the bytes delivered ahead of their chunk.
struct FlowStates<State> {
    private var idle: [UInt32: State] = [:]
    private var active: UInt32?
    private var forgetActive = false
    /// The size of one state (a chunker's undecided bytes, a flow's carried bytes).
    private let size: (State) -> Int
    /// The sum of ``size`` over the states between batches, kept as they come and go (read once per batch, so
    /// never recounted over every flow).
    private(set) var totalSize = 0

    /// - Parameter size: the size of one state, summed in ``totalSize``.
    init(size: @escaping (State) -> Int = { _ in 0 }) {
        self.size = size
    }

    /// Takes a flow's state for coding one batch (`nil` for a new flow).
    mutating func begin(_ flow: UInt32) -> State? {
        active = flow
        forgetActive = false
        return take(flow)
    }

    /// Puts a flow's state back after its batch, unless the flow ended meanwhile.
    mutating func end(_ flow: UInt32, keeping state: State) {
        if !(forgetActive && active == flow) {
            _ = take(flow)
            idle[flow] = state
            totalSize += size(state)
        }
        active = nil
        forgetActive = false
    }

    /// A flow's state between batches.
    func state(of flow: UInt32) -> State? { idle[flow] }

    /// The flows with a state between batches.
    var flows: [UInt32] { Array(idle.keys) }

    /// How many flows have a state between batches.
    var count: Int { idle.count }

    mutating func forget(_ flow: UInt32) {
        _ = take(flow)
        if active == flow { forgetActive = true }
    }

    private mutating func take(_ flow: UInt32) -> State? {
        guard let state = idle.removeValue(forKey: flow) else { return nil }
        totalSize -= size(state)
        return state
    }
}

/// The checksum a DATA frame carries: the low 64 bits of the XXH3-128 of the decoded bytes.
enum LinkChecksum {
    static let fingerprinter = Fingerprinter()

    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 { fingerprinter.fingerprint(bytes).low }
}

/// The store an encoder sees: it answers "do you hold this chunk?" yes only when the peer is known to hold it
/// too (``PeerKnowledge``) and it can read the chunk's bytes now. The chunks the encoder actually wrote a
/// dependency on (``StreamEncoder/takeStoreDependencies()``: store references and prefix chunks) are retained at
/// the end of the batch, so a CHUNK_REQUEST for them can be answered; lookups the encoder did not use are not.
///
/// Retention is first in, first out by the latest reference: a chunk referenced again moves to the back of the
/// queue, and its bytes are counted once however often it is referenced.
final class ReferenceRecorder: ChunkWriting {
    private struct Retained {
        var bytes: [UInt8]
        /// Bumped at each reference; queue entries with an older generation are stale.
        var generation: UInt64
        /// Requests the peer may still make for it: one per reference sent.
        var answerable: Int
    }

    private struct State {
        /// The bytes read for this batch's lookups, until the batch ends.
        var looked: [Fingerprint: [UInt8]] = [:]
        var retained: [Fingerprint: Retained] = [:]
        var order = CircularBuffer<(Fingerprint, UInt64)>()
        var retainedBytes = 0
        var generation: UInt64 = 0
        var peer: PeerKnowledge?
    }

    private let store: any ChunkWriting
    private let retentionLimit: Int
    private let state = Mutex(State())

    init(store: any ChunkWriting, retentionLimit: Int) {
        self.store = store
        self.retentionLimit = retentionLimit
    }

    var storeID: StoreID { store.storeID }
    var performsBlockingIO: Bool { store.performsBlockingIO }

    var retainedBytes: Int { state.withLock { $0.retainedBytes } }

    func setPeer(_ knowledge: PeerKnowledge) { state.withLock { $0.peer = knowledge } }

    /// Whether the peer is known to hold a chunk: only those may be referenced.
    private func peerHolds(_ fingerprint: Fingerprint) -> Bool {
        state.withLock { $0.peer }?.contains(fingerprint) ?? false
    }

    func beginBatch() { state.withLock { $0.looked.removeAll(keepingCapacity: true) } }

    /// Ends a batch: retains the chunks the encoder wrote a dependency on and returns them, each once, as the
    /// DATA frame's reference list.
    func endBatch(retaining dependencies: [Fingerprint]) -> [Fingerprint] {
        var listed = Set<Fingerprint>(minimumCapacity: dependencies.count)
        var references: [Fingerprint] = []
        for fingerprint in dependencies where listed.insert(fingerprint).inserted {
            let bytes = state.withLock { $0.looked[fingerprint] ?? $0.retained[fingerprint]?.bytes }
            // Looked up in this batch, so normally at hand; a chunk whose bytes are gone cannot be supplied, and
            // the peer's request for it is answered "not available" (its store held it when it was referenced).
            guard let bytes else { continue }
            retain(fingerprint, bytes)
            references.append(fingerprint)
        }
        state.withLock { $0.looked.removeAll(keepingCapacity: true) }
        return references
    }

    func answer(_ fingerprint: Fingerprint) -> [UInt8]? {
        state.withLock { state in
            guard var entry = state.retained[fingerprint], entry.answerable > 0 else { return nil }
            entry.answerable -= 1
            state.retained[fingerprint] = entry
            return entry.bytes
        }
    }

    /// Called by the encoder for each chunk outside its window: a `true` may become a store reference.
    func contains(_ fingerprint: Fingerprint) -> Bool {
        (try? get(fingerprint)) != nil
    }

    /// Called by the encoder for the chunks it may compress new ones against (a store prefix), and by
    /// ``contains(_:)``: only chunks the peer holds, with their bytes kept until the batch ends.
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        guard peerHolds(fingerprint) else { return nil }
        if let bytes = state.withLock({ $0.looked[fingerprint] ?? $0.retained[fingerprint]?.bytes }) {
            state.withLock { $0.looked[fingerprint] = bytes }
            return bytes
        }
        guard let bytes = try store.get(fingerprint), !bytes.isEmpty else { return nil }
        state.withLock { $0.looked[fingerprint] = bytes }
        return bytes
    }

    func successor(of fingerprint: Fingerprint) -> Fingerprint? { store.successor(of: fingerprint) }

    /// A new chunk, sent to the peer as a literal in this batch: from now on the peer holds it.
    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try store.put(bytes, as: fingerprint)
        state.withLock { $0.peer }?.insert(fingerprint)
    }

    /// Retains a referenced chunk and makes one more request for it answerable; a chunk already retained moves
    /// to the back of the queue without being counted again.
    private func retain(_ fingerprint: Fingerprint, _ bytes: [UInt8]) {
        let limit = retentionLimit
        state.withLock { state in
            state.generation &+= 1
            let generation = state.generation
            if var entry = state.retained[fingerprint] {
                entry.generation = generation
                entry.answerable += 1
                state.retained[fingerprint] = entry
            } else {
                state.retained[fingerprint] = Retained(bytes: bytes, generation: generation, answerable: 1)
                state.retainedBytes += bytes.count
            }
            state.order.append((fingerprint, generation))
            while state.retainedBytes > limit, let (oldest, generation) = state.order.popFirst() {
                guard let entry = state.retained[oldest], entry.generation == generation else { continue }
                state.retained.removeValue(forKey: oldest)
                state.retainedBytes -= entry.bytes.count
            }
            // Stale queue entries (chunks referenced again) are dropped once they outnumber the live ones.
            if state.order.count > 2 * state.retained.count + 1024 {
                state.order = CircularBuffer(
                    state.order.filter { state.retained[$0.0]?.generation == $0.1 })
            }
        }
    }
}
