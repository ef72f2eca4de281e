/// Reads a segment file record by record, front to back, through a 1 MiB buffer.
///
/// A record whose header checks out but whose payload does not is reported as `damaged` and skipped by its
/// length. A header that does not check out is skipped by searching forward, 8 bytes at a time, for the next
/// header that does (records are 8-aligned), and the gap is reported as `damaged`. A record that runs past the
/// end of the file is `torn`: a write cut short by a crash.
struct SegmentScanner {
    enum Item {
        case record(offset: Int, header: RecordHeader, payload: [UInt8])
        case damaged(offset: Int, length: Int, reason: String)
        case torn(offset: Int)
    }

    let file: StoreFile
    let end: Int
    private(set) var position: Int
    private var buffer: [UInt8] = []
    private var bufferStart = 0

    static let bufferSize = 1 << 20

    /// Starts at `position` (a record boundary) and stops at `end` (the file size when scanned).
    init(file: StoreFile, from position: Int, to end: Int) {
        self.file = file
        self.position = position
        self.end = end
    }

    /// The next item, or `nil` at the end.
    mutating func next() throws(ChunkStoreError) -> Item? {
        guard position < end else { return nil }
        guard end - position >= RecordHeader.size else {
            defer { position = end }
            return .torn(offset: position)
        }
        try fill(position, RecordHeader.size)
        if let header = RecordHeader.decode(buffer, at: position - bufferStart) {
            let size = header.recordSize
            guard end - position >= size else {
                defer { position = end }
                return .torn(offset: position)
            }
            try fill(position, size)
            let start = position - bufferStart + RecordHeader.size
            let payload = Array(buffer[start..<(start + header.storedLength)])
            let offset = position
            position += size
            let check = payload.withUnsafeBytes { XXHash.hash64($0) }
            guard check == header.payloadChecksum else {
                return .damaged(offset: offset, length: size, reason: "payload checksum mismatch")
            }
            return .record(offset: offset, header: header, payload: payload)
        }
        let start = position
        position += StoreLayout.alignment
        while end - position >= RecordHeader.size {
            try fill(position, RecordHeader.size)
            if RecordHeader.decode(buffer, at: position - bufferStart) != nil { break }
            position += StoreLayout.alignment
        }
        if end - position < RecordHeader.size { position = end }
        return .damaged(offset: start, length: position - start, reason: "unreadable record header")
    }

    private mutating func fill(_ offset: Int, _ count: Int) throws(ChunkStoreError) {
        if offset >= bufferStart && offset + count <= bufferStart + buffer.count { return }
        buffer = try file.read(count: max(count, Self.bufferSize), at: offset)
        bufferStart = offset
    }
}
