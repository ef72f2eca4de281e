import ReplicaCore

/// `replica_in_buffer` and `replica_out_buffer` as C lays them out: three pointer-sized fields {ptr, size, pos},
/// which the C ABI places at offsets 0, 1 and 2 words on every platform Swift supports.
///
/// Each view checks what C promises nothing about: a NULL struct, a NULL data pointer with a size, a position
/// beyond the size, a size beyond `Int.max`.
struct CBufferView {
    private let base: UnsafeMutableRawPointer
    /// The data pointer; `nil` only when ``size`` is 0.
    let data: UnsafeMutableRawPointer?
    /// The buffer's size in bytes.
    let size: Int

    private static let word = MemoryLayout<UInt>.stride

    /// Reads the struct at `pointer`.
    ///
    /// - Throws: ``CFailure`` with `nullPointer` or `bufferPosition`.
    init(_ pointer: UnsafeMutableRawPointer?, name: String) throws(CFailure) {
        guard let pointer else { throw CFailure(.nullPointer, "the \(name) buffer is NULL") }
        base = pointer
        data = pointer.load(as: UnsafeMutableRawPointer?.self)
        let rawSize = pointer.load(fromByteOffset: Self.word, as: UInt.self)
        let rawPosition = pointer.load(fromByteOffset: 2 * Self.word, as: UInt.self)
        guard let size = Int(exactly: rawSize) else {
            throw CFailure(.parameterOutOfBound, "the \(name) buffer's size \(rawSize) is too large")
        }
        guard data != nil || size == 0 else {
            throw CFailure(.nullPointer, "the \(name) buffer's pointer is NULL but its size is \(size)")
        }
        guard rawPosition <= rawSize else {
            throw CFailure(.bufferPosition, "the \(name) buffer's pos \(rawPosition) is beyond its size \(size)")
        }
        self.size = size
    }

    /// The buffer's `pos`.
    var position: Int {
        get { Int(base.load(fromByteOffset: 2 * Self.word, as: UInt.self)) }
        nonmutating set { base.storeBytes(of: UInt(newValue), toByteOffset: 2 * Self.word, as: UInt.self) }
    }

    /// The bytes from `pos` to `size`.
    var remaining: Int { size - position }

    /// The next `count` unread bytes (`count <= remaining`).
    func bytes(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: data.map { $0 + position }, count: count)
    }
}

/// Encoded or decoded bytes a context holds until the caller's output has room.
struct HeldBytes {
    /// The bytes; the first `start` have been written out.
    var bytes: [UInt8] = []
    private var start = 0

    /// Bytes not yet written out.
    var count: Int { bytes.count - start }

    /// Copies as much as fits into `output`, advancing its position.
    mutating func drain(into output: CBufferView) {
        let count = min(self.count, output.remaining)
        if count > 0, let destination = output.data {
            bytes.withUnsafeBytes { held in
                copyBytes(UnsafeRawBufferPointer(rebasing: held[start..<(start + count)]), to: destination + output.position)
            }
            start += count
            output.position += count
        }
        if start == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            start = 0
        }
    }
}

/// Copies `source` to `destination`, which has room for it.
func copyBytes(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
    guard let base = source.baseAddress else { return }
    destination.copyMemory(from: base, byteCount: source.count)
}

/// Checks a pointer and size pair given by C and views it as a buffer.
///
/// - Throws: ``CFailure`` with `nullPointer` when `pointer` is NULL and `size` is not 0, or `parameterOutOfBound`
///   when `size` exceeds `Int.max`.
func checkedBuffer(_ pointer: UnsafeRawPointer?, _ size: UInt, name: String) throws(CFailure) -> UnsafeRawBufferPointer {
    guard let count = Int(exactly: size) else { throw CFailure(.parameterOutOfBound, "\(name) size \(size) is too large") }
    guard pointer != nil || count == 0 else { throw CFailure(.nullPointer, "\(name) is NULL with size \(count)") }
    return UnsafeRawBufferPointer(start: count == 0 ? nil : pointer, count: count)
}

/// A C string a context owns until its next call: the message of its last error.
final class ErrorMessage {
    private var storage: UnsafeMutablePointer<CChar>
    private static let empty = StaticString("")

    init() {
        storage = .allocate(capacity: 1)
        storage.initialize(to: 0)
    }

    deinit { storage.deallocate() }

    /// Replaces the message.
    func set(_ message: String) {
        let utf8 = Array(message.utf8)
        let fresh = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
        for (index, byte) in utf8.enumerated() { fresh[index] = CChar(bitPattern: byte) }
        fresh[utf8.count] = 0
        storage.deallocate()
        storage = fresh
    }

    /// The message as a C string.
    var cString: UnsafePointer<CChar> { UnsafePointer(storage) }
}

/// `replica_stream_in_size`: one encoder piece.
@_cdecl("replica_stream_in_size")
public func replicaStreamInSize() -> UInt { UInt(EncoderContext.pieceSize) }

/// `replica_stream_out_size`: a default block of literals and its header, rounded up.
@_cdecl("replica_stream_out_size")
public func replicaStreamOutSize() -> UInt { UInt(EncoderConfiguration.defaultBlockSize + (4 << 10)) }

/// The error that ends a stream context: the encoder's or decoder's state is unknown after it, so once recorded,
/// every later call returns it.
struct FinalFailure {
    private var failure: CFailure?

    /// Throws the recorded error, if any.
    func check() throws(CFailure) {
        if let failure { throw failure }
    }

    /// Runs `body`, and records and rethrows its error (classified) as final.
    mutating func recording<Result>(_ body: () throws -> Result) throws(CFailure) -> Result {
        do {
            return try body()
        } catch {
            let failure = CFailure(classifying: error)
            self.failure = failure
            throw failure
        }
    }
}
