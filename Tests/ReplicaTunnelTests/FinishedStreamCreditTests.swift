import NIOCore
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// A stream that finishes at the sender while the receiver is still writing its last bytes: the sender must keep
/// those bytes charged to the link budget until the receiver credits them back, or it sends more than the
/// receiver's budget allows and the receiver closes the link (seen with 200 busy flows in `make appliance-test`:
/// "sent 65536 bytes on stream 339 with 62437 left of the link budget").
@Suite struct FinishedStreamCreditTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let budget = 128 << 10

    /// A sender (client) and a receiver (server) with the same budget, one stream open and connected.
    func pair() throws -> (sender: PeerStateMachine, receiver: PeerStateMachine, id: UInt32) {
        let configuration = try TunnelConfiguration(streamWindow: 64 << 10, linkBudget: budget, maximumStreams: 8)
        let hello = TunnelHello(
            capabilities: [], storeID: .random(), frameLimit: 1 << 20, receiveBudget: UInt32(budget))
        var sender = PeerStateMachine(role: .client, configuration: configuration)
        var receiver = PeerStateMachine(
            role: .server(
                TargetDialer(
                    policy: TunnelAccessPolicy(
                        allowList: TunnelAllowList([TunnelTarget(host: "app", port: 80)]), permissions: .anyPeer),
                    identity: nil, listener: nil)),
            configuration: configuration)
        #expect(sender.receiveHello(hello) == .proceed)
        #expect(receiver.receiveHello(hello) == .proceed)
        let opened = sender.openLocal(at: start)
        let id = try #require(opened)
        _ = receiver.receiveOpen(id, target: TunnelTarget(host: "app", port: 80), window: 64 << 10, at: start)
        _ = receiver.connected(id, at: start)
        return (sender, receiver, id)
    }

    @Test func bytesOfAFinishedStreamStayChargedUntilTheReceiverCreditsThem() throws {
        var (sender, receiver, id) = try pair()
        #expect(sender.receiveWindowUpdate(id, increment: 64 << 10, at: start) == .proceed)
        sender.sent(64 << 10, on: id, at: start)
        #expect(receiver.receiveData(id, declaredLength: 64 << 10, at: start) == .deliver)
        receiver.handedOver(64 << 10, on: id)
        // Both directions end; the sender has nothing unwritten and forgets the stream.
        sender.sentHalfClose(id)
        #expect(sender.receiveHalfClose(id) == .proceed)
        #expect(sender.isDone(id))
        sender.remove(id)
        // The receiver has not written the bytes yet: they still count against its budget, so for the sender.
        #expect(receiver.receivedUncredited == 64 << 10)
        #expect(sender.inFlight == 64 << 10)
        // Its WINDOW_UPDATE for them (sent once written) releases them.
        let written = receiver.written(64 << 10, on: id, success: true, at: start, roundTrip: nil)
        let increment = try #require(written)
        #expect(sender.receiveWindowUpdate(id, increment: increment, at: start) == .ignore)
        #expect(sender.inFlight == 0)
        #expect(receiver.receivedUncredited == 0)
    }

    @Test func aResetReleasesWhatAFinishedStreamHeld() throws {
        var (sender, _, id) = try pair()
        #expect(sender.receiveWindowUpdate(id, increment: 64 << 10, at: start) == .proceed)
        sender.sent(32 << 10, on: id, at: start)
        sender.sentHalfClose(id)
        #expect(sender.receiveHalfClose(id) == .proceed)
        sender.remove(id)
        #expect(sender.inFlight == 32 << 10)
        // The receiver could not write them (its connection failed) and reset the stream: no credit will come.
        #expect(sender.receiveReset(id, at: start) == .ignore)
        #expect(sender.inFlight == 0)
    }

    @Test func aStreamRemovedBeforeItFinishedReleasesAtOnce() throws {
        var (sender, _, id) = try pair()
        #expect(sender.receiveWindowUpdate(id, increment: 64 << 10, at: start) == .proceed)
        sender.sent(16 << 10, on: id, at: start)
        sender.remove(id)  // a reset from this end: the receiver discards what arrives
        #expect(sender.inFlight == 0)
    }
}
