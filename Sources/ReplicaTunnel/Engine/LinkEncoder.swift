
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
    /// The chunker state of each flow between its batches: at most a maximum chunk plus one batch each.
    private var chunkers: [UInt32: Chunker] = [:]

    /// Creates the encoder for one direction.
    ///
    /// - Parameters:
    ///   - configuration: chunking, codec and window settings.
    ///   - store: the local store: chunks it holds may be sent as references, new chunks are added to it.
    ///   - retentionLimit: how many bytes of referenced chunks to keep for answering CHUNK_REQUEST.
    /// - Throws: ``CodecError`` when a compression context cannot be created.
    public init(configuration: EncoderConfiguration, store: any ChunkWriting, retentionLimit: Int) throws {
        self.recorder = ReferenceRecorder(store: store, retentionLimit: retentionLimit)
        self.encoder = try StreamEncoder(configuration: configuration, store: recorder)
    }

    /// The encoder's counters so far.
    public var statistics: StreamStatistics { encoder.statistics }

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
    public func encode(_ bytes: ByteBuffer, flow: UInt32? = nil, compress: Bool = true) throws -> TunnelData {
        scratch.removeAll(keepingCapacity: true)
        recorder.beginBatch()
        encoder.compressesLiterals = compress
        var flowChunker: Chunker?
        if let flow {
            let own = chunkers.removeValue(forKey: flow) ?? Chunker(encoder.configuration.chunker)
            flowChunker = encoder.exchangeChunker(own)
        }
        defer {
            if let flow, let shared = flowChunker { chunkers[flow] = encoder.exchangeChunker(shared) }
        }
        let checksum = try bytes.withUnsafeReadableBytes { buffer in
            try encoder.encode(buffer, into: &scratch)
            try encoder.flush(into: &scratch, cutChunk: flow == nil)
            return LinkChecksum.of(buffer)
        }
        return TunnelData(
            decodedLength: UInt32(bytes.readableBytes), checksum: checksum, references: recorder.endBatch(),
            encoded: ByteBuffer(bytes: scratch))
    }

    /// Forgets a flow's chunker state (when the flow ends).
    public func endFlow(_ flow: UInt32) {
        chunkers[flow] = nil
    }

    /// The bytes of a chunk the peer asks for: retained, or still in the store. `nil` when neither holds it.
    public func chunk(_ fingerprint: Fingerprint) -> [UInt8]? {
        recorder.retained(fingerprint)
    }
}

/// The checksum a DATA frame carries: the low 64 bits of the XXH3-128 of the decoded bytes.
enum LinkChecksum {
    static let fingerprinter = Fingerprinter()

    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 { fingerprinter.fingerprint(bytes).low }
}

/// The store an encoder sees: it answers "do you hold this chunk?" yes only when it can read the chunk's bytes
/// now, keeps those bytes for a while, and records which chunks the current batch referenced (as store
/// references or as a compression prefix).
final class ReferenceRecorder: ChunkWriting {
    private struct State {
        var batch: [Fingerprint] = []
        var retained: [Fingerprint: [UInt8]] = [:]
        var order = CircularBuffer<Fingerprint>()
        var retainedBytes = 0
    }

    private let store: any ChunkWriting
    private let retentionLimit: Int
    private let state = Mutex(State())

    init(store: any ChunkWriting, retentionLimit: Int) {
        self.store = store
        self.retentionLimit = retentionLimit
    }

    var storeID: StoreID { store.storeID }

    func beginBatch() { state.withLock { $0.batch.removeAll(keepingCapacity: true) } }

    func endBatch() -> [Fingerprint] { state.withLock { $0.batch } }

    func retained(_ fingerprint: Fingerprint) -> [UInt8]? {
        if let bytes = state.withLock({ $0.retained[fingerprint] }) { return bytes }
        return try? store.get(fingerprint)
    }

    /// Called by the encoder for each chunk outside its window: a `true` becomes a store reference.
    func contains(_ fingerprint: Fingerprint) -> Bool {
        let held = state.withLock { $0.retained[fingerprint] != nil }
        if !held {
            guard let bytes = try? store.get(fingerprint), !bytes.isEmpty else { return false }
            retain(fingerprint, bytes)
        }
        state.withLock { $0.batch.append(fingerprint) }
        return true
    }

    /// Called by the encoder for the chunks it compresses new ones against (a store prefix): the receiver
    /// needs them as much as referenced chunks, so they are recorded and retained the same way.
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        guard let bytes = try store.get(fingerprint), !bytes.isEmpty else { return nil }
        retain(fingerprint, bytes)
        state.withLock { $0.batch.append(fingerprint) }
        return bytes
    }

    func successor(of fingerprint: Fingerprint) -> Fingerprint? { store.successor(of: fingerprint) }

    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try store.put(bytes, as: fingerprint)
    }

    private func retain(_ fingerprint: Fingerprint, _ bytes: [UInt8]) {
        let limit = retentionLimit
        state.withLock { state in
            state.retained[fingerprint] = bytes
            state.order.append(fingerprint)
            state.retainedBytes += bytes.count
            while state.retainedBytes > limit, let oldest = state.order.popFirst() {
                if let dropped = state.retained.removeValue(forKey: oldest) { state.retainedBytes -= dropped.count }
            }
        }
    }
}
