/// Little-endian and LEB128 writers for the stream format.
extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { self.append(contentsOf: $0) }
    }

    /// Appends the check value (``check32(_:)``) of the bytes from `start` to the end.
    mutating func appendCheck32(from start: Int) {
        let check = withUnsafeBytes { check32(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        appendLittleEndian(check)
    }

    /// Appends a fingerprint's 16-byte canonical (big-endian) form.
    mutating func appendCanonical(_ fingerprint: Fingerprint) {
        appendLittleEndian(fingerprint.high.byteSwapped)
        appendLittleEndian(fingerprint.low.byteSwapped)
    }

    /// Appends an unsigned LEB128 varint: 7 bits a byte, low bits first, high bit set on all but the last.
    mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        append(UInt8(rest))
    }
}

/// A bounds-checked reader over a byte buffer. Every read returns `nil` rather than reading past the end.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    mutating func readLittleEndian<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { return nil }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: value)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes; `nil` when truncated, overlong or not minimal.
    ///
    /// Only the minimal encoding is accepted (no final `0x00` byte after a continuation), as
    /// ``Swift/Array/appendVarint(_:)`` writes it: padded varints would let a stream inflate its bodies.
    mutating func readVarint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return byte == 0 && shift > 0 ? nil : value }
            shift += 7
        }
        return nil
    }

    /// Reads a fingerprint in its 16-byte canonical (big-endian) form.
    mutating func readFingerprint() -> Fingerprint? {
        guard let high: UInt64 = readLittleEndian(), let low: UInt64 = readLittleEndian() else { return nil }
        return Fingerprint(high: high.byteSwapped, low: low.byteSwapped)
    }

    mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }
}

/// The low 32 bits of XXH3-64, the check value of headers and trailers.
func check32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    UInt32(truncatingIfNeeded: XXHash.hash64(bytes))
}
