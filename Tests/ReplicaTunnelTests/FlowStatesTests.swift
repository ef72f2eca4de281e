import Testing

@testable import ReplicaTunnel

/// The per-flow states of a link direction (each flow's chunker when sending, its carried bytes when receiving).
@Suite struct FlowStatesTests {
    @Test func aFlowForgottenWhileItsBatchIsCodedIsNotPutBack() {
        var states = FlowStates<[UInt8]>()
        #expect(states.begin(1) == nil)
        states.end(1, keeping: [1, 2, 3])
        #expect(states.state(of: 1) == [1, 2, 3])
        #expect(states.begin(1) == [1, 2, 3])
        states.forget(1)
        states.end(1, keeping: [4])
        #expect(states.state(of: 1) == nil)
        #expect(states.flows.isEmpty)
    }

    @Test func forgottenFlowsLeaveTheList() {
        var states = FlowStates<[UInt8]>()
        for flow in UInt32(1)...10 {
            _ = states.begin(flow)
            states.end(flow, keeping: [UInt8(flow)])
        }
        for flow in states.flows where flow % 2 == 1 { states.forget(flow) }
        #expect(states.flows.sorted() == [2, 4, 6, 8, 10])
        #expect(states.state(of: 2) == [2])
        #expect(states.state(of: 3) == nil)
    }

    @Test func theTotalSizeFollowsStatesAsTheyComeAndGo() {
        var states = FlowStates<[UInt8]>(size: \.count)
        _ = states.begin(1)
        states.end(1, keeping: [1, 2, 3])
        _ = states.begin(2)
        states.end(2, keeping: [1, 2])
        #expect(states.totalSize == 5)
        // A state taken for a batch is not counted until it is put back, and then at its new size.
        #expect(states.begin(1) == [1, 2, 3])
        #expect(states.totalSize == 2)
        states.end(1, keeping: [1])
        #expect(states.totalSize == 3)
        states.forget(2)
        #expect(states.totalSize == 1)
        // A flow forgotten during its batch is not put back, so it adds nothing.
        _ = states.begin(1)
        states.forget(1)
        states.end(1, keeping: [9, 9, 9, 9])
        #expect(states.totalSize == 0)
    }
}
