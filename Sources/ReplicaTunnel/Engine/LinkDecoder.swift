public import NIOCore
public import ReplicaCore
import Synchronization

/// The receiving half of one direction of a peer link: the mirror of the peer's ``LinkEncoder``.
///
/// Before a DATA payload is decoded, ``missingReferences(_:)`` pins the bytes of every chunk it references and
/// names those the store lacks; the caller fetches them from the peer (``supply(_:_:)``) and decodes only when
/// nothing is missing, so the ``StreamDecoder`` never meets an unresolvable reference. Payloads must be decoded
/// in the order the peer encoded them.
///
/// Not thread-safe: use it from one event loop.
public final class LinkDecoder {
    private let decoder: StreamDecoder
    private let pinned: PinnedStore
    private var output: [UInt8] = []
    /// The decoded bytes handed out, in storage reused once the local socket let go of the previous ones.
    private var deliveries = RecycledBuffer()
    /// Each flow's bytes delivered ahead of their chunk (at most one chunk per flow) between its payloads.
    /// Locked: ``endFlow(_:)`` comes from the event loop while a payload may be decoded on the pool.
    private let flows = Mutex(FlowStates<[UInt8]>(size: \.count))
    /// The most carried bytes of all flows together (``TunnelProtocol/maximumCarriedBytes``; tests lower it).
    var carriedByteLimit = TunnelProtocol.maximumCarriedBytes

    /// Creates the decoder for one direction.
    ///
    /// - Parameters:
    ///   - options: the decoder's memory limit.
    ///   - store: the local store: references resolve against it and new chunks are learned into it.
    /// - Throws: ``CodecError`` when a checksum state cannot be allocated.
    public init(options: DecoderOptions = DecoderOptions(), store: any ChunkWriting) throws {
        self.pinned = PinnedStore(store: store)
        self.decoder = try StreamDecoder(options: options, store: pinned)
    }

    /// The decoder's counters so far.
    public var statistics: StreamStatistics { decoder.statistics }

    /// Names the peer's knowledge: every chunk the peer sends as a literal (or supplies) is recorded as held by it.
    func setPeer(_ knowledge: PeerKnowledge) { pinned.setPeer(knowledge) }

    /// Pins the referenced chunks the store holds and returns those it lacks (each once).
    public func missingReferences(_ data: TunnelData) -> [Fingerprint] {
        pinned.pin(data.references)
    }

    /// Adds a chunk fetched from the peer, after checking it against its fingerprint.
    ///
    /// - Returns: whether the bytes match the fingerprint (a mismatch adds nothing).
    public func supply(_ fingerprint: Fingerprint, _ bytes: [UInt8]) -> Bool {
        pinned.supply(fingerprint, bytes)
    }

    /// Forgets a flow's state (when the flow ends). Safe to call while a payload is being decoded.
    public func endFlow(_ flow: UInt32) {
        flows.withLock { $0.forget(flow) }
    }

    /// Forgets the states of flows no DATA can arrive on any more (`accepts` says no), once more than `limit`
    /// flows have one: a flow this side closed before the peer finished sending keeps its state until then.
    func forgetFlows(above limit: Int, unless accepts: (UInt32) -> Bool) {
        guard flows.withLock({ $0.count }) > limit else { return }
        let stale = flows.withLock { $0.flows }.filter { !accepts($0) }
        flows.withLock { flows in
            for flow in stale { flows.forget(flow) }
        }
    }

    /// Verifies a plain (engine-bypassing) payload's length and checksum.
    ///
    /// - Returns: the bytes, safe to deliver.
    /// - Throws: ``TunnelError`` `checksumMismatch`.
    public static func verifyPlain(_ data: TunnelData) throws(TunnelError) -> ByteBuffer {
        let checksum = data.encoded.withUnsafeReadableBytes { LinkChecksum.of($0) }
        guard data.encoded.readableBytes == Int(data.decodedLength), checksum == data.checksum else {
            throw TunnelError(.checksumMismatch, "a plain DATA frame does not match its length or checksum")
        }
        return data.encoded
    }

    /// Decodes one DATA payload whose references are all pinned, and verifies its length and checksum (the
    /// checksum only where some bytes come from the window or the store: the blocks verify literals themselves).
    ///
    /// No more than the declared length is ever decoded: each block's declared output is checked against what is
    /// left of it before the block is decompressed.
    ///
    /// - Returns: the decoded bytes, safe to deliver.
    /// - Throws: ``TunnelError`` `decodeFailed` when the stream is corrupt (the direction is then unusable), or
    ///   `checksumMismatch` when the bytes do not match the frame's length or checksum.
    public func decode(_ data: TunnelData, flow: UInt32? = nil) throws(TunnelError) -> ByteBuffer {
        output.removeAll(keepingCapacity: true)
        var shared: [UInt8]?
        if let flow {
            shared = decoder.exchangeCarriedBytes(flows.withLock { $0.begin(flow) } ?? [])
        }
        // Checked before the decoder copies any transient bytes: all flows together stay within the bound.
        decoder.carriedByteAllowance = carriedByteLimit - flows.withLock { $0.totalSize }
        defer {
            if let flow, let shared {
                let own = decoder.exchangeCarriedBytes(shared)
                flows.withLock { $0.end(flow, keeping: own) }
            }
            pinned.unpinAll()
            // A large frame's buffer is not kept for the link's lifetime.
            if output.capacity > 1 << 20 { output = [] }
        }
        let declared = Int(data.decodedLength)
        let before = decoder.statistics
        do {
            // No block may take the output past the declared length: a bomb fails at its first block beyond it.
            try data.encoded.withUnsafeReadableBytes { buffer in
                try decoder.decode(buffer, into: &output, outputLimit: declared)
            }
        } catch {
            throw TunnelError(.decodeFailed, "\(error)")
        }
        guard output.count == Int(data.decodedLength) else {
            throw TunnelError(
                .checksumMismatch, "a DATA frame decoded to \(output.count) bytes, it declares \(data.decodedLength)")
        }
        // A payload decoded from literals alone is already verified byte for byte: the decoder fingerprints each
        // literal from its decoded bytes and checks every block's list of fingerprints against the block's check
        // (and each stored payload against its own). Only bytes taken from the window or the store, which those
        // checks name but do not hash, need the frame's checksum as well.
        if Self.hashedBytes(from: before, to: decoder.statistics) == output.count {
            return output.withUnsafeBytes { deliveries.fill($0) }
        }
        let checksum = output.withUnsafeBytes { LinkChecksum.of($0) }
        guard checksum == data.checksum else {
            throw TunnelError(
                .checksumMismatch,
                "decoded bytes hash to \(String(checksum, radix: 16)), the frame says \(String(data.checksum, radix: 16))")
        }
        return output.withUnsafeBytes { deliveries.fill($0) }
    }

    /// The decoded bytes that the block checks hashed between two snapshots of the decoder's counters: literals
    /// (a literal after a skip counts its whole chunk but delivers only the bytes after the skip) and transient
    /// bytes. A skip before a reference subtracts bytes that were never counted, so the result can fall short of
    /// the hashed bytes but never exceed them: when it equals the output, every delivered byte was hashed.
    static func hashedBytes(from before: StreamStatistics, to after: StreamStatistics) -> Int {
        let literal = Int(truncatingIfNeeded: after.literalBytes &- before.literalBytes)
        let transient = Int(truncatingIfNeeded: after.transientBytes &- before.transientBytes)
        let skipped = Int(truncatingIfNeeded: after.skippedBytes &- before.skippedBytes)
        return literal + transient - skipped
    }
}

/// The store a tunnel decoder sees: chunks pinned for the payload being decoded, in front of the real store.
///
/// Its order (``successor(of:)``) is the sender's, and only the payload's: the sender's encoder pairs two chunks
/// in a store run only where the second follows the first in the payload's reference list (repeats removed), so
/// a run resolves chunk by chunk from that list. This side's store holds the chunks in another order (a hub's
/// store interleaves its links; CHUNK_REQUEST replies and evictions reorder it), so its order is never used: a
/// run the list does not carry fails its check (`storeOrderMismatch`) and never resolves to other chunks.
final class PinnedStore: ChunkWriting {
    private let store: any ChunkWriting
    private let pins = Mutex([Fingerprint: [UInt8]]())
    private let peer = Mutex<PeerKnowledge?>(nil)
    /// Each referenced chunk's successor in the payload's reference list (the first one where a chunk repeats):
    /// at most one entry per reference of the payload being decoded, cleared with the pins.
    private let senderOrder = Mutex([Fingerprint: Fingerprint]())

    init(store: any ChunkWriting) { self.store = store }

    func setPeer(_ knowledge: PeerKnowledge) { peer.withLock { $0 = knowledge } }

    var storeID: StoreID { store.storeID }
    var performsBlockingIO: Bool { store.performsBlockingIO }

    /// Pins what the store holds of `references`; returns the others, each once.
    ///
    /// - Complexity: O(n) in the references (each distinct one is looked up once).
    func pin(_ references: [Fingerprint]) -> [Fingerprint] {
        senderOrder.withLock { order in
            for (chunk, next) in zip(references, references.dropFirst()) where order[chunk] == nil {
                order[chunk] = next
            }
        }
        var missing: [Fingerprint] = []
        var seen = Set<Fingerprint>(minimumCapacity: references.count)
        for fingerprint in references where seen.insert(fingerprint).inserted {
            guard pins.withLock({ $0[fingerprint] == nil }) else { continue }
            if let bytes = try? store.get(fingerprint), !bytes.isEmpty {
                pins.withLock { $0[fingerprint] = bytes }
            } else {
                missing.append(fingerprint)
            }
        }
        return missing
    }

    func supply(_ fingerprint: Fingerprint, _ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, LinkChecksum.fingerprinter.fingerprint(bytes) == fingerprint else { return false }
        pins.withLock { $0[fingerprint] = bytes }
        try? store.put(bytes, as: fingerprint)
        peer.withLock { $0 }?.insert(fingerprint)
        return true
    }

    func unpinAll() {
        pins.withLock { $0.removeAll(keepingCapacity: true) }
        senderOrder.withLock { $0.removeAll(keepingCapacity: true) }
    }

    func successor(of fingerprint: Fingerprint) -> Fingerprint? {
        senderOrder.withLock { $0[fingerprint] }
    }

    func contains(_ fingerprint: Fingerprint) -> Bool {
        pins.withLock { $0[fingerprint] != nil } || store.contains(fingerprint)
    }

    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? {
        if let bytes = pins.withLock({ $0[fingerprint] }) { return bytes }
        return try store.get(fingerprint)
    }

    /// A literal chunk the peer sent: the store learns it, and the peer evidently holds it.
    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try store.put(bytes, as: fingerprint)
        peer.withLock { $0 }?.insert(fingerprint)
    }

    /// The same, handing the array on (a memory store keeps it without a copy).
    func put(_ bytes: [UInt8], as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try store.put(bytes, as: fingerprint)
        peer.withLock { $0 }?.insert(fingerprint)
    }
}
