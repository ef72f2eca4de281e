import FuzzSupport
import Foundation
import ReplicaCore

// The disk store's recovery path: a real store is made once (two segments, an index snapshot), and each input
// replaces one of its files (the first byte picks which: segment, index or meta; the rest is the file) in a fresh
// copy under /dev/shm. Opening scans the segments and reads the index; then every chunk the template held is read
// (it must come back intact or be reported missing, never wrong), a chunk is written, and the store is closed and
// opened again. Any trap, crash or wrong chunk is a finding; ChunkStoreError is the expected outcome.

let root = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    + "/replica-fuzz-store-\(getpid())"
let template = root + "/template"
let work = root + "/work"
let options: DiskChunkStore.Options = {
    do { return try DiskChunkStore.Options(capacity: 8 << 20, segmentSize: 64 << 10, durability: .onClose) } catch {
        Harness.fail("\(error)")
    }
}()

/// The template's chunks, which every later open must return intact or report missing.
let chunks: [(Fingerprint, [UInt8])] = {
    let fingerprinter = Fingerprinter()
    return (0..<40).map { index in
        let bytes = Corpus.text(1500 + index * 97, seed: UInt64(index) + 10)
        return (fingerprinter.fingerprint(bytes), bytes)
    }
}()

/// The store's files, relative to its directory: meta, index, segments (in the order the selector byte uses).
let files: [String] = {
    do {
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
        let store = try DiskChunkStore(directory: template, options: options)
        for (fingerprint, bytes) in chunks { try bytes.withUnsafeBytes { try store.put($0, as: fingerprint) } }
        try store.close()
        let all = try FileManager.default.subpathsOfDirectory(atPath: template).sorted().filter { path in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: template + "/" + path, isDirectory: &isDirectory)
            return !isDirectory.boolValue && path != "lock"
        }
        guard all.count >= 2 else { Harness.fail("the template store has only \(all)") }
        return all
    } catch {
        Harness.fail("template store: \(error)")
    }
}()

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt {
    Harness.writeSeedsIfAsked {
        try files.enumerated().map { index, path in
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: template + "/" + path)))
            return (path.replacingOccurrences(of: "/", with: "_"), [UInt8(index)] + bytes)
        }
    }
    _ = files
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = Harness.bytes(start, count)
    guard let selector = input.first else { return 0 }
    let target = files[Int(selector) % files.count]
    do {
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.copyItem(atPath: template, toPath: work)
        try Data(input.dropFirst()).write(to: URL(fileURLWithPath: work + "/" + target))
    } catch {
        Harness.fail("cannot prepare the store copy: \(error)")
    }
    exercise()
    exercise()  // reopening after a recovery must work as well
    return 0
}

func exercise() {
    do {
        let store = try DiskChunkStore(directory: work, options: options)
        for (fingerprint, bytes) in chunks {
            if let got = try store.get(fingerprint), got != bytes {
                Harness.fail("the store returned wrong bytes for \(fingerprint) after \(files) were damaged")
            }
        }
        _ = store.statistics
        let extra = Corpus.text(700, seed: 99)
        try extra.withUnsafeBytes { try store.put($0, as: Fingerprinter().fingerprint(extra)) }
        try store.close()
    } catch is ChunkStoreError {
    } catch {
        Harness.fail("unexpected error type: \(error)")
    }
}
