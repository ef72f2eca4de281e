import Synchronization

/// `verify`: read every record of every segment and check it, and check every index entry against its record.
extension DiskChunkStore {
    /// Reads and checks every record: headers, checksums, codecs, and each live chunk against its fingerprint.
    /// Live chunks that fail are quarantined; damaged regions are reported and their segments marked so that
    /// ``compact(liveRatio:)`` rewrites them. Writers wait while it runs; readers do not.
    ///
    /// - Returns: what was checked and found; ``VerifyReport/isClean`` says whether the store is clean.
    /// - Throws: ``ChunkStoreError`` on an I/O failure or a closed store.
    public func verify() throws(ChunkStoreError) -> VerifyReport {
        try writer.withLock { (writer: inout WriterState) throws(ChunkStoreError) -> VerifyReport in
            try checkOpen(writer)
            var report = VerifyReport()
            let segments = state.withLock { state in
                state.order.compactMap { number in state.segments[number].map { (number, $0) } }
            }
            var matched = 0
            for (number, segment) in segments {
                let header = SegmentHeader.decode(try segment.file.read(count: SegmentHeader.size, at: 0))
                if header?.number != number || header?.storeID != storeID {
                    report.damaged.append("segment \(number): damaged or foreign segment header")
                }
                var scanner = SegmentScanner(file: segment.file, from: SegmentHeader.size, to: segment.length)
                report.bytesRead += segment.length
                while let item = try scanner.next() {
                    switch item {
                    case .record(let offset, let header, let payload):
                        report.records += 1
                        guard header.kind == .chunk else { continue }
                        let here = RecordLocation(segment: number, offset: offset, recordSize: header.recordSize)
                        guard let current = state.withLock({ $0.index.location(of: header.fingerprint) }),
                            current.unreferenced == here.unreferenced
                        else { continue }
                        matched += 1
                        if case .failure(let problem) = Self.decodePayload(header, payload, options.fingerprinter) {
                            report.damaged.append(
                                "segment \(number) offset \(offset): \(header.fingerprint): \(problem.reason)")
                            quarantineLocked(header.fingerprint, at: here, reason: problem.reason, &writer)
                            report.quarantined += 1
                        } else {
                            report.chunksVerified += 1
                        }
                    case .damaged(let offset, let length, let reason):
                        report.damaged.append("segment \(number) offset \(offset): \(reason) (\(length) bytes)")
                        state.withLock { $0.segments[number]?.damaged = true }
                    case .torn(let offset):
                        report.damaged.append("segment \(number) offset \(offset): torn record")
                        state.withLock { $0.segments[number]?.damaged = true }
                    }
                }
            }
            let indexed = state.withLock { $0.index.count } + report.quarantined
            if matched != indexed {
                report.quarantined += try quarantineUnmatched(&writer, &report)
            }
            return report
        }
    }

    /// Checks every index entry by reading its record, quarantining those that fail: the entries a full scan did
    /// not meet (their records sit in damaged regions).
    private func quarantineUnmatched(_ writer: inout WriterState, _ report: inout VerifyReport)
        throws(ChunkStoreError) -> Int
    {
        var entries: [(Fingerprint, RecordLocation)] = []
        state.withLock { $0.index.forEach { entries.append(($0, $1)) } }
        var quarantined = 0
        for (fingerprint, location) in entries {
            guard let file = state.withLock({ $0.segments[location.segment]?.file }) else {
                _ = state.withLock { $0.index.remove(fingerprint) }
                quarantined += 1
                continue
            }
            if case .failure(let problem) = try readChunk(file, location, expecting: fingerprint) {
                report.damaged.append(
                    "segment \(location.segment) offset \(location.offset): \(fingerprint): \(problem.reason)")
                quarantineLocked(fingerprint, at: location, reason: problem.reason, &writer)
                quarantined += 1
            }
        }
        return quarantined
    }
}
