/// Opening a store: load the index snapshot, check it against the segment files, and scan what it does not
/// cover; or rebuild the index from every segment when the snapshot is missing, damaged or inconsistent.
///
/// Scans apply records in segment order, which is the order they were written: a chunk record (re)places its
/// fingerprint, a tombstone removes it. Torn or unreadable bytes after the last good record of a segment are cut
/// off; damaged records before it are skipped and counted, and their segment is marked for compaction.
struct Recovery {
    let directory: String
    let segmentsDirectory: String
    let meta: StoreMeta
    /// Whether nothing may be written: torn tails are then skipped in memory instead of cut off.
    let readOnly: Bool
    private(set) var report = DiskChunkStore.RecoveryReport()
    /// Whether the open scanned or repaired anything, so a fresh snapshot is worth writing.
    private(set) var needsSnapshot = false
    private var index = ChunkIndex()
    private var segments: [UInt64: SegmentInfo] = [:]

    init(directory: String, segmentsDirectory: String, meta: StoreMeta, readOnly: Bool = false) throws(ChunkStoreError) {
        self.directory = directory
        self.segmentsDirectory = segmentsDirectory
        self.meta = meta
        self.readOnly = readOnly
    }

    /// Runs the recovery and returns the index, the segments, the active segment and the next segment number.
    mutating func run() throws(ChunkStoreError) -> (
        index: ChunkIndex, segments: [UInt64: SegmentInfo], active: UInt64, nextSegment: UInt64
    ) {
        if !readOnly { try StoreIO.makeDirectory(segmentsDirectory) }
        var numbers: [UInt64] = []
        for name in StoreIO.isDirectory(segmentsDirectory) ? try StoreIO.list(segmentsDirectory) : [] {
            if let number = StoreLayout.segmentNumber(name), number >= 1, number <= RecordLocation.maximumSegment {
                numbers.append(number)
            } else if name.hasSuffix(".tmp") && !readOnly {
                try StoreIO.remove(segmentsDirectory + "/" + name)
            }
        }
        numbers.sort()
        for number in numbers { try openSegment(number, isLast: number == numbers.last) }
        var scanFrom: [UInt64: Int] = [:]
        var nextSegment = (numbers.last ?? 0) + 1
        switch loadSnapshot(numbers) {
        case .success(let snapshot):
            report.usedSnapshot = true
            nextSegment = max(nextSegment, snapshot.nextSegment)
            for row in snapshot.rows where segments[row.number] != nil {
                scanFrom[row.number] = row.length
                segments[row.number]?.liveCount = row.liveCount
                segments[row.number]?.liveBytes = row.liveBytes
                segments[row.number]?.liveRawBytes = row.liveRawBytes
                if row.damaged { segments[row.number]?.damaged = true }
            }
        case .failure(let problem):
            report.rebuildReason = problem.reason
            needsSnapshot = true
            index = ChunkIndex()
        }
        for number in numbers {
            guard let segment = segments[number] else { continue }
            let from = scanFrom[number] ?? SegmentHeader.size
            if from < segment.length { try scan(number, segment, from: from) }
        }
        return (index, segments, numbers.last ?? 0, nextSegment)
    }

    /// Opens a segment file; gives a torn new last segment (shorter than its header) a fresh header.
    private mutating func openSegment(_ number: UInt64, isLast: Bool) throws(ChunkStoreError) {
        let file = try StoreFile.open(
            segmentsDirectory + "/" + StoreLayout.segmentName(number), create: false, readOnly: readOnly)
        var length = try file.size()
        let header = SegmentHeader.decode(try file.read(count: SegmentHeader.size, at: 0))
        if header == nil && length < SegmentHeader.size && readOnly {
            report.truncatedBytes += length
            return
        } else if header == nil && length < SegmentHeader.size {
            try file.truncate(to: 0)
            try file.write(SegmentHeader(storeID: meta.storeID, number: number).encoded(), at: 0)
            report.truncatedBytes += length
            length = SegmentHeader.size
            needsSnapshot = true
        } else if header == nil || header?.number != number || header?.storeID != meta.storeID {
            report.damagedRecords += 1
        }
        segments[number] = SegmentInfo(file: file, length: length, damaged: header == nil)
    }

    /// Loads the snapshot into `index` when it agrees with the segment files.
    private mutating func loadSnapshot(_ numbers: [UInt64]) -> Result<IndexSnapshot, StoreProblem> {
        let path = directory + "/" + StoreLayout.indexName
        guard StoreIO.exists(path) else { return .failure(StoreProblem("there is no index snapshot")) }
        guard let file = try? StoreFile.open(path, create: false), let size = try? file.size(),
            let bytes = try? file.read(count: size, at: 0)
        else { return .failure(StoreProblem("the index snapshot cannot be read")) }
        let snapshot: IndexSnapshot
        switch IndexSnapshot.decode(bytes, storeID: meta.storeID) {
        case .success(let decoded): snapshot = decoded
        case .failure(let problem): return .failure(problem)
        }
        var covered: [UInt64: Int] = [:]
        for row in snapshot.rows {
            covered[row.number] = row.length
            if let segment = segments[row.number], segment.length < row.length || row.length < SegmentHeader.size {
                return .failure(StoreProblem("segment \(row.number) is shorter than the index says"))
            }
        }
        let newest = snapshot.rows.last?.number ?? 0
        if let stray = numbers.first(where: { covered[$0] == nil && $0 < newest }) {
            return .failure(StoreProblem("segment \(stray) is missing from the index"))
        }
        // Per segment number from the oldest row on: the length the snapshot covers (-1: not listed), and whether
        // the file still exists. Arrays, because this runs once per chunk.
        let oldest = snapshot.rows.first?.number ?? 0
        let span = Int(min(newest - oldest + 1, UInt64(snapshot.rows.count) * 4 + 1024))
        var lengths = [Int](repeating: -1, count: snapshot.rows.isEmpty ? 0 : span)
        var exists = [Bool](repeating: false, count: lengths.count)
        for row in snapshot.rows where row.number >= oldest && row.number - oldest < UInt64(span) {
            lengths[Int(row.number - oldest)] = row.length
            exists[Int(row.number - oldest)] = segments[row.number] != nil
        }
        var loaded = ChunkIndex(expected: snapshot.entryCount)
        let inside = snapshot.forEachEntry { fingerprint, location in
            guard location.segment >= oldest, location.segment - oldest < UInt64(lengths.count) else { return false }
            let slot = Int(location.segment - oldest)
            guard location.offset >= SegmentHeader.size, location.offset + RecordHeader.size <= lengths[slot] else {
                return false
            }
            if exists[slot] { loaded.set(fingerprint, location) }
            return true
        }
        guard inside else { return .failure(StoreProblem("an index entry points outside its segment")) }
        index = loaded
        return .success(snapshot)
    }

    /// Applies the records of a segment from `from` on, and cuts off a torn or unreadable tail.
    private mutating func scan(_ number: UInt64, _ segment: SegmentInfo, from: Int) throws(ChunkStoreError) {
        needsSnapshot = true
        report.segmentsScanned += 1
        report.bytesScanned += segment.length - from
        var scanner = SegmentScanner(file: segment.file, from: from, to: segment.length)
        var validEnd = from
        var pendingDamage = 0
        while let item = try scanner.next() {
            switch item {
            case .record(let offset, let header, _):
                if pendingDamage > 0 {
                    report.damagedRecords += pendingDamage
                    segments[number]?.damaged = true
                    pendingDamage = 0
                }
                validEnd = offset + header.recordSize
                guard offset <= RecordLocation.maximumOffset else {
                    report.damagedRecords += 1
                    segments[number]?.damaged = true
                    continue
                }
                apply(header, at: RecordLocation(segment: number, offset: offset, recordSize: header.recordSize))
            case .damaged, .torn:
                pendingDamage += 1
            }
        }
        if validEnd < segment.length {
            if !readOnly { try segment.file.truncate(to: validEnd) }
            report.truncatedBytes += segment.length - validEnd
            segments[number]?.length = validEnd
        }
    }

    private mutating func apply(_ header: RecordHeader, at location: RecordLocation) {
        let previous: RecordLocation?
        if header.kind == .chunk {
            previous = index.set(header.fingerprint, location)
            segments[location.segment]?.add(recordSize: header.recordSize, rawLength: header.rawLength, sign: 1)
        } else {
            previous = index.remove(header.fingerprint)
        }
        if let previous, let file = segments[previous.segment]?.file,
            let bytes = try? file.read(count: RecordHeader.size, at: previous.offset),
            let old = RecordHeader.decode(bytes, at: 0)
        {
            segments[previous.segment]?.add(recordSize: old.recordSize, rawLength: old.rawLength, sign: -1)
        }
    }
}
