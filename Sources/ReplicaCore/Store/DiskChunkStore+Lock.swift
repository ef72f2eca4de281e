/// The writer lock of a store directory: an exclusive `flock` on `DIR/lock`, which holds the owner's pid.
///
/// `flock` locks belong to an open file description, so the lock is released when the owner closes the store or
/// dies (even by `kill -9`), and a second open in the same process is refused like one in another process.
struct StoreLock {
    /// The locked file; `nil` for a read-only open, which takes no lock.
    let file: StoreFile?

    /// What a read-only open holds: no lock, only the mark that the store is open.
    static let unlocked = StoreLock(file: nil)

    /// Takes the lock, trying for up to a quarter of a second: a holder may be exiting, or a process that forked
    /// while holding it may not have reached `exec` (which closes the descriptor) yet.
    /// - Throws: ``ChunkStoreError`` "store DIR is in use by pid N" when another open store holds it.
    static func acquire(directory: String) throws(ChunkStoreError) -> StoreLock {
        let path = directory + "/" + StoreLayout.lockName
        let file = try StoreFile.open(path, create: true)
        var attempts = 0
        while try !file.tryLockExclusive() {
            attempts += 1
            guard attempts < 25 else { break }
            StoreIO.sleep(milliseconds: 10)
        }
        guard attempts < 25 else {
            let text = String(decoding: (try? file.read(count: 32, at: 0)) ?? [], as: UTF8.self)
            let pid = text.split(whereSeparator: { !$0.isNumber }).first.map(String.init) ?? "unknown"
            throw ChunkStoreError(.inUse, "store \(directory) is in use by pid \(pid)")
        }
        try file.truncate(to: 0)
        try file.write(Array("\(StoreIO.processID)\n".utf8), at: 0)
        return StoreLock(file: file)
    }
}
