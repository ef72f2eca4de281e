/// A file the bench could not read or write, with the path and the reason.
struct BenchFailure: Error, CustomStringConvertible {
    /// What went wrong, naming the path.
    let description: String
}
