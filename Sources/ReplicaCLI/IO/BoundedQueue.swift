import Foundation

/// A first-in, first-out queue of at most `capacity` items between two threads of a ``Pipeline``: `push`
/// waits while it is full, `pop` while it is empty. Either side may cancel, which wakes and stops both, so a
/// failed stage never leaves another one waiting.
///
/// An `NSCondition` guards all state, hence `@unchecked Sendable`.
final class BoundedQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false
    private var cancelled = false

    /// Creates an empty queue.
    ///
    /// - Precondition: `capacity > 0`.
    init(capacity: Int) {
        precondition(capacity > 0, "a bounded queue needs room for one item")
        self.capacity = capacity
    }

    /// Appends `item`, waiting while the queue is full.
    ///
    /// - Throws: ``PipelineCancelled`` when the queue was cancelled; the item is dropped.
    func push(_ item: Element) throws(PipelineCancelled) {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { throw PipelineCancelled() }
        items.append(item)
        condition.broadcast()
    }

    /// Declares that nothing more will be pushed: `pop` returns `nil` once the queue is drained.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops every item and makes both ends throw from now on.
    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// The oldest item, waiting while the queue is empty; `nil` when it is closed and drained.
    ///
    /// - Throws: ``PipelineCancelled`` when the queue was cancelled.
    func pop() throws(PipelineCancelled) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed && !cancelled { condition.wait() }
        guard !cancelled else { throw PipelineCancelled() }
        guard !items.isEmpty else { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }
}

/// Thrown inside a pipeline when another stage failed first; never the error a pipeline reports.
struct PipelineCancelled: Error {}

/// A value handed from one thread to another through a ``BoundedQueue`` or a thread's start: after the
/// hand-off only the receiving thread touches it.
struct HandedOver<Value>: @unchecked Sendable {
    /// The value.
    let value: Value
}

/// Runs three stages on three threads joined by bounded queues: `produce` on one, `transform` on another,
/// and `consume` on the caller's thread, in order. Memory is bounded by `depth` items in each queue.
///
/// The first error of any stage stops all three, and `run` throws that error once both threads are done.
enum Pipeline {
    /// Runs the stages.
    ///
    /// - Parameters:
    ///   - depth: items each queue holds at most.
    ///   - produce: emits work items in order, then returns.
    ///   - transform: called with each work item, then once with `nil` at the end; emits outputs in order.
    ///   - consume: called on the caller's thread with each output, in order.
    /// - Throws: the first error a stage threw.
    static func run<Work: Sendable, Output: Sendable>(
        depth: Int,
        produce: @escaping @Sendable (_ emit: (Work) throws -> Void) throws -> Void,
        transform: @escaping @Sendable (_ work: Work?, _ emit: (Output) throws -> Void) throws -> Void,
        consume: (Output) throws -> Void
    ) throws {
        let work = BoundedQueue<Work>(capacity: depth)
        let outputs = BoundedQueue<Output>(capacity: depth)
        let failure = FirstFailure()
        let stop: @Sendable (any Error) -> Void = { error in
            failure.record(error)
            work.cancel()
            outputs.cancel()
        }
        let finished = DispatchGroup()
        startThread(named: "replica-read", group: finished) {
            do {
                try produce { item in try work.push(item) }
                work.close()
            } catch {
                stop(error)
            }
        }
        startThread(named: "replica-work", group: finished) {
            do {
                while let item = try work.pop() {
                    try transform(item) { output in try outputs.push(output) }
                }
                try transform(nil) { output in try outputs.push(output) }
                outputs.close()
            } catch {
                stop(error)
            }
        }
        do {
            while let output = try outputs.pop() { try consume(output) }
        } catch {
            stop(error)
        }
        finished.wait()
        if let error = failure.error { throw error }
    }

    private static func startThread(named name: String, group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.name = name
        thread.start()
    }
}

/// The first real error of a pipeline (a ``PipelineCancelled`` is only its echo in the other stages).
private final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var first: (any Error)?

    func record(_ error: any Error) {
        guard !(error is PipelineCancelled) else { return }
        lock.lock()
        if first == nil { first = error }
        lock.unlock()
    }

    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return first
    }
}
