import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import ReplicaTunnel

/// The allow-list, per-peer permissions, the listener guard and admission caps, without sockets (but for one
/// dial that must never happen).
@Suite struct TunnelAccessTests {
    func address(_ ip: String, _ port: Int) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: port) }

    @Test(arguments: [
        ("10.0.0.0/8:443", "10.200.3.4", 443, true),
        ("10.0.0.0/8:443", "10.200.3.4", 444, false),
        ("10.0.0.0/8:443", "11.0.0.1", 443, false),
        ("10.0.0.0/8:*", "10.0.0.1", 9, true),
        ("192.168.1.7:80", "192.168.1.7", 80, true),
        ("192.168.1.7:80", "192.168.1.8", 80, false),
        ("[fd00::/8]:443", "fd12::1", 443, true),
        ("[fd00::/8]:443", "fe80::1", 443, false),
        ("[::1]:80", "::1", 80, true),
        ("127.0.0.0/8:80", "::ffff:127.0.0.9", 80, true),  // IPv4-mapped IPv6 counts as IPv4
        ("*", "203.0.113.9", 1, true),
    ])
    func networksMatchResolvedAddresses(pattern: String, ip: String, port: Int, expected: Bool) throws {
        let entry = try TunnelTargetPattern(parsing: pattern)
        #expect(entry.covers(name: "anything.example", address: try address(ip, port), port: port) == expected)
    }

    @Test func namesMatchOnlyTheNameGiven() throws {
        let entry = try TunnelTargetPattern(parsing: "DB.internal:5432")
        let somewhere = try address("10.1.1.1", 5432)
        #expect(entry.covers(name: "db.internal", address: somewhere, port: 5432))
        #expect(!entry.covers(name: "db.internal.evil", address: somewhere, port: 5432))
        #expect(!entry.covers(name: "10.1.1.1", address: somewhere, port: 5432))
        #expect(!entry.covers(name: "db.internal", address: somewhere, port: 5433))
    }

    @Test(arguments: ["", "host", "host:0", "host:70000", "10.0.0.0/33:80", "a/b:80", "host:x"])
    func badEntriesAreRefused(text: String) {
        #expect(throws: TunnelError.self) { try TunnelTargetPattern(parsing: text) }
    }

    @Test func permissionsAreDefaultDenyAndPerName() throws {
        let permissions = try TunnelPermissions(parsing: ["branch1=10.0.0.5:80,10.0.1.0/24:*", "*=10.9.9.9:22"])
        let branch1 = TunnelPeerIdentity(name: "branch1", allNames: ["branch1"])
        let branch2 = TunnelPeerIdentity(name: "branch2", allNames: ["branch2"])
        #expect(permissions.patterns(for: branch1).count == 3)
        #expect(permissions.patterns(for: branch2).map(\.description) == ["10.9.9.9:22"])
        #expect(permissions.patterns(for: nil).map(\.description) == ["10.9.9.9:22"])
        #expect(TunnelPermissions().patterns(for: branch1).isEmpty)
        #expect(throws: TunnelError.self) { try TunnelPermissions(parsing: ["=10.0.0.1:80"]) }
        #expect(throws: TunnelError.self) { try TunnelPermissions(parsing: ["branch1"]) }
    }

    @Test func anEntryNamingTheListenerIsRefusedAtStart() throws {
        let listener = try address("127.0.0.1", 21500)
        for entry in ["127.0.0.1:21500", "127.0.0.0/8:21500"] {
            let policy = TunnelAccessPolicy(allowList: try TunnelAllowList(parsing: entry), permissions: .init())
            #expect(throws: TunnelError.self) { try policy.check(listener: listener) }
        }
        let fine = TunnelAccessPolicy(allowList: try TunnelAllowList(parsing: "127.0.0.1:21501,*"), permissions: .init())
        try fine.check(listener: listener)
        // Through a permission too.
        let permitted = TunnelAccessPolicy(
            allowList: TunnelAllowList(), permissions: try TunnelPermissions(parsing: ["x=127.0.0.1:21500"]))
        #expect(throws: TunnelError.self) { try permitted.check(listener: listener) }
    }

    @Test func theListenerIsRefusedAtDialTimeWhateverTheEntriesSay() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let listener = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        let everything = TunnelAccessPolicy(
            allowList: try TunnelAllowList(parsing: "*"), permissions: try TunnelPermissions(parsing: ["*=*"]))
        let dialer = TargetDialer(policy: everything, identity: nil, listener: listener.localAddress)
        for host in ["127.0.0.1", "localhost"] {
            let attempt = dialer.connect(
                TunnelTarget(host: host, port: port), on: group.next(), timeout: .seconds(5)) { $0 }
            await #expect(throws: TunnelError.self) { _ = try await attempt.get() }
        }
        // A wildcard listener covers every local address with its port.
        let wildcard = ListenerGuard(listener: try address("0.0.0.0", port))
        #expect(wildcard.isListener(try address("127.0.0.1", port)))
        #expect(!wildcard.isListener(try address("127.0.0.1", port + 1)))
        try await listener.close()
        try await group.shutdownGracefully()
    }

    @Test func aPeerWithoutPermissionIsRefusedBeforeResolving() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let policy = TunnelAccessPolicy(
            allowList: try TunnelAllowList(parsing: "*"), permissions: try TunnelPermissions(parsing: ["hub=*"]))
        let dialer = TargetDialer(
            policy: policy, identity: TunnelPeerIdentity(name: "branch", allNames: ["branch"]), listener: nil)
        let attempt = dialer.connect(TunnelTarget(host: "127.0.0.1", port: 9), on: group.next(), timeout: .seconds(5)) { $0 }
        do {
            _ = try await attempt.get()
            Issue.record("the dial was allowed")
        } catch let error as TunnelError {
            #expect(error.code == .targetRefused)
            #expect(error.message.contains("branch"))
        }
        try await group.shutdownGracefully()
    }

    @Test func admissionCapsLinksInAllAndPerAddress() throws {
        let admission = TunnelAdmission(limits: try TunnelAdmissionLimits(maximumLinks: 3, maximumLinksPerAddress: 2))
        func channel(_ ip: String) throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.connect(to: SocketAddress(ipAddress: ip, port: 1000)).wait()
            return channel
        }
        let a1 = try channel("10.0.0.1")
        let a2 = try channel("10.0.0.1")
        let a3 = try channel("10.0.0.1")
        #expect(admission.admit(a1) == nil)
        #expect(admission.admit(a2) == nil)
        #expect(admission.admit(a3)?.contains("from this address") == true)
        let b1 = try channel("10.0.0.2")
        let c1 = try channel("10.0.0.3")
        #expect(admission.admit(b1) == nil)
        #expect(admission.admit(c1)?.contains("links are open (limit 3)") == true)
        _ = try a1.finish()
        #expect(admission.openLinks == 2)
        #expect(admission.admit(c1) == nil)
        #expect(throws: TunnelError.self) { try TunnelAdmissionLimits(maximumLinks: 2, maximumLinksPerAddress: 3) }
    }
}
