// ConnectionTimeouts on its own: light stand-ins for connections, deadlines given directly,
// `expire(now:)` called at chosen times instead of the sweeper's clock, and the count of links
// arming walks (what arming costs).
import Spindle
import SpindleFibers
import SpindleTestSupport
import XCTest

/// A stand-in for a connection: its links, and when it was told its deadline had passed.
private final class StandIn: TimeoutEntry {
    var timeoutLinks = TimeoutLinks<StandIn>()
    /// The deadline arm was asked for (the stored one may be later, see `placeEarly`).
    var asked: UInt64 = 0
    var toldAt: UInt64? = nil
    var clock: () -> UInt64 = { 0 }

    func timedOut() {
        XCTAssertNil(toldAt, "told twice")
        XCTAssertNil(timeoutLinks.kind, "told while still armed")
        toldAt = clock()
    }
}

private let second: UInt64 = 1_000_000_000

final class ConnectionTimeoutsTests: XCTestCase {
    /// The case that made arming O(n): 10,000 idle keep-alive connections, then 1,000 requests
    /// whose heads arrive in pieces (their head deadline, 10 s after the first byte, is earlier
    /// than the idle deadlines, 60 s, armed before it), interleaved with more connections going
    /// idle. Every arm must walk a bounded number of links, not one per idle connection.
    func testArmingWalksABoundedNumberOfLinksWhateverTheIdleCount() {
        let timeouts = ConnectionTimeouts<StandIn>()
        let idleTimeout = 60 * second, headTimeout = 10 * second
        var now = 1_000 * second
        var arms = 0, mostPerArm = 0
        func arm(_ entry: StandIn, _ kind: TimeoutKind, _ deadline: UInt64) {
            let before = timeouts.linksWalked
            timeouts.arm(entry, kind, deadline: Deadline(nanoseconds: deadline))
            arms += 1
            mostPerArm = max(mostPerArm, timeouts.linksWalked - before)
        }
        let idle = (0..<10_000).map { _ in StandIn() }
        for entry in idle {
            now += 100_000
            arm(entry, .idle, now + idleTimeout)
        }
        let splitHeads = (0..<1_000).map { _ in StandIn() }
        let moreIdle = (0..<1_000).map { _ in StandIn() }
        for i in 0..<1_000 {
            now += 1_000_000
            arm(moreIdle[i], .idle, now + idleTimeout)       // a new connection goes idle
            arm(splitHeads[i], .idle, now + idleTimeout)     // a connection waits for a request...
            now += 1_000_000
            arm(splitHeads[i], .head, now + headTimeout)     // ...whose first bytes arrive
            arm(idle[i], .idle, now + idleTimeout)           // a keep-alive request was served
        }
        let walked = timeouts.linksWalked
        print("ConnectionTimeouts: \(arms) arms walked \(walked) links (at most \(mostPerArm) in one arm)")
        XCTAssertLessThanOrEqual(mostPerArm, ConnectionTimeouts<StandIn>.maxWalk,
                                 "one arm walked \(mostPerArm) links with 11,000 connections armed")
        XCTAssertLessThanOrEqual(walked, arms * ConnectionTimeouts<StandIn>.maxWalk)

        // And every one of them is still told, in time.
        var clock = now
        for entry in idle + splitHeads + moreIdle { entry.clock = { clock } }
        clock = now + headTimeout
        XCTAssertEqual(timeouts.expire(now: clock), 1_000)
        XCTAssertTrue(splitHeads.allSatisfy { $0.toldAt != nil })
        clock = now + idleTimeout
        XCTAssertEqual(timeouts.expire(now: clock), 11_000)
        XCTAssertEqual(timeouts.earliestDeadline, .max)
        // The lists hold their entries unretained (as the worker's connection table keeps the
        // connections alive): without this, an optimised build may free the stand-ins after
        // their arrays' last use above, and the last sweep would walk freed objects.
        withExtendedLifetime((idle, splitHeads, moreIdle)) {}
    }

    /// Deadlines out of order within a kind (heads armed late, after a pipelined request): a
    /// few links back they get their exact place, earlier than everything they go first, and
    /// otherwise they are clamped to a later deadline already in the list. Nothing is told
    /// early, everything due is told at the next sweep, and a clamped entry is told no later
    /// than the latest deadline of its kind armed before it (or the next sweep, when that has
    /// passed too).
    func testOutOfOrderDeadlinesKeepTheListsSortedAndAreNeverToldEarly() {
        let timeouts = ConnectionTimeouts<StandIn>()
        var random = SplitMix(seed: 0x5EED)
        var clock: UInt64 = 0
        var entries: [StandIn] = []
        var latestArmed: [TimeoutKind: UInt64] = [:]
        var bound: [ObjectIdentifier: UInt64] = [:]
        var clamped = 0
        for step in 0..<20_000 {
            switch random.next() % 8 {
            case 0...4:  // arm a new or existing entry, mostly in order, sometimes late
                let entry: StandIn
                if entries.isEmpty || random.next() % 3 == 0 {
                    entry = StandIn()
                    entry.clock = { clock }
                    entries.append(entry)
                } else {
                    entry = entries[Int(random.next() % UInt64(entries.count))]
                    if entry.toldAt != nil { continue }
                }
                let kind: TimeoutKind = random.next() % 2 == 0 ? .idle : .head
                let timeout = kind == .idle ? 60 * second : 10 * second
                let lateBy = random.next() % 4 == 0 ? random.next() % (20 * second) : 0
                let deadline = clock + timeout - min(lateBy, clock + timeout)
                entry.asked = deadline
                timeouts.arm(entry, kind, deadline: Deadline(nanoseconds: deadline))
                let latest = max(latestArmed[kind] ?? 0, deadline)
                latestArmed[kind] = latest
                bound[ObjectIdentifier(entry)] = max(latest, clock)  // a deadline already past: the next sweep
                XCTAssertGreaterThanOrEqual(entry.timeoutLinks.deadline, deadline, "armed earlier than asked")
                if entry.timeoutLinks.deadline > deadline { clamped += 1 }
                XCTAssertLessThanOrEqual(entry.timeoutLinks.deadline, latest, "clamped past every deadline armed before")
            case 5:  // disarm one
                if let entry = entries.randomElement(using: &random) { timeouts.disarm(entry) }
            default:  // time passes; the sweeper runs
                clock += random.next() % (2 * second)
                timeouts.expire(now: clock)
                XCTAssertGreaterThan(timeouts.earliestDeadline, clock, "something due was not told (step \(step))")
            }
        }
        // The rare paths were taken.
        XCTAssertGreaterThan(timeouts.linksWalked, 0)
        XCTAssertGreaterThan(clamped, 0)
        clock = .max - 1
        timeouts.expire(now: clock)
        XCTAssertEqual(timeouts.earliestDeadline, .max)
        for entry in entries {
            guard let toldAt = entry.toldAt, toldAt != clock else { continue }
            XCTAssertGreaterThanOrEqual(toldAt, entry.asked, "told before its deadline")
            XCTAssertLessThan(toldAt, bound[ObjectIdentifier(entry)]! + 2 * second, "told later than the clamp allows")
        }
    }

    /// The exact places: a deadline a few links back, one before the whole list, one clamped;
    /// disarming from the middle; the sweeper's next wake is the earliest head of both lists.
    func testPlacesOfEarlyDeadlines() {
        let timeouts = ConnectionTimeouts<StandIn>()
        var now: UInt64 = 0
        func make(_ kind: TimeoutKind, _ deadline: UInt64) -> StandIn {
            let entry = StandIn()
            entry.clock = { now }
            timeouts.arm(entry, kind, deadline: Deadline(nanoseconds: deadline))
            return entry
        }
        let inOrder = [10, 20, 30, 40, 50, 60].map { make(.head, UInt64($0)) }
        let idle = make(.idle, 25)
        XCTAssertEqual(timeouts.earliestDeadline, 10)
        let fewBack = make(.head, 45)  // walks back over 60 and 50
        XCTAssertEqual(fewBack.timeoutLinks.deadline, 45)
        let clamped = make(.head, 15)  // past maxWalk links back: after 30, with 30
        XCTAssertEqual(clamped.timeoutLinks.deadline, 30)
        let first = make(.head, 5)  // before the whole list: first, exact
        XCTAssertEqual(first.timeoutLinks.deadline, 5)
        XCTAssertEqual(timeouts.earliestDeadline, 5)
        timeouts.disarm(inOrder[3])
        var told: [ObjectIdentifier] = []
        for t in [5, 10, 20, 25, 30, 45, 50, 60] as [UInt64] {
            now = t
            let before = told.count
            timeouts.expire(now: t)
            for entry in inOrder + [idle, fewBack, clamped, first] where entry.toldAt == t { told.append(ObjectIdentifier(entry)) }
            XCTAssertGreaterThan(told.count, before, "nothing told at \(t)")
        }
        XCTAssertNil(inOrder[3].toldAt)
        XCTAssertEqual(clamped.toldAt, 30)
        XCTAssertEqual(idle.toldAt, 25)
        XCTAssertEqual(timeouts.earliestDeadline, .max)
    }
}
