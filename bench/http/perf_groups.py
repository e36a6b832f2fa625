#!/usr/bin/env python3
"""Groups a `perf record -g` profile of an HTTP server into the buckets the engineers ask about.

    perf script -i FILE.data -F ip,sym,dso | swift-demangle --simplified | perf_groups.py [--top N]

Prints, as percentages of all samples:
  1. self time by group: kernel (TCP/IP loopback, io_uring, syscall entry, scheduler, other),
     Swift runtime (retain/release, generic metadata and witness-table lookups, exclusivity),
     allocation (mimalloc/malloc, swift_allocObject/dealloc, storage deinit), and the Spindle
     layers (parser, router, response writer, HTTPTypes, logging, fibers, reactor, server),
     Foundation, libc, other Swift stdlib;
  2. inclusive time of request-path functions (a sample counts once if the function is
     anywhere on its stack);
  3. who calls the allocator and the metadata lookups: the nearest caller that is not runtime,
     allocator or standard-library code, with its share.
Standard library only.
"""
import argparse
import collections
import re
import sys

KERNEL_NET = re.compile(r"^(__)?(tcp|ip|ipv4|inet|sock|sk|skb|alloc_skb|kfree_skb|net|netif|napi|dev|loopback|eth|bbr|"
                        r"process_backlog|validate_xmit|raw_local_deliver|release_sock|lock_sock|sys_sendto|"
                        r"sys_recvfrom|udp|neigh|nf_|packet_|dst_)")
KERNEL_URING = re.compile(r"^(__)?(io_|io_uring|x64_sys_io_uring)")
KERNEL_SCHED = re.compile(r"^(__)?(schedule|finish_task_switch|pick_next|try_to_wake_up|ttwu|enqueue|dequeue|"
                          r"update_curr|set_next_entity|put_prev|psi_|sched_|context_switch|wake_up|autoremove_wake)")
KERNEL_ENTRY = re.compile(r"^(entry_SYSCALL|do_syscall|syscall_|x64_sys_call|__x64_sys|exit_to_user|"
                          r"syscall_exit|fpregs|switch_fpu|restore_fpregs)")

GROUPS = [  # (group, regex on the symbol) for user-space leaf frames, first match wins
    ("Swift runtime: retain/release", r"^(swift_(retain|release|bridgeObjectRetain|bridgeObjectRelease|"
                                      r"unknownObjectRetain|unknownObjectRelease|nonatomic_retain|nonatomic_release|"
                                      r"isUniquelyReferenced\w*)$|swift::RefCounts)"),
    ("Swift runtime: generic metadata / witness tables", r"(Metadata|getCache|swift_getWitnessTable|WitnessTable|"
                                                         r"__swift_instantiate|swift_checkMetadataState|"
                                                         r"swift_getAssociated|ConcurrentReadableHashMap|"
                                                         r"LockingConcurrentMap|swift_getTypeByMangled)"),
    ("Swift runtime: exclusivity checks", r"^(swift_beginAccess|swift_endAccess|swift::runtime::AccessSet)"),
    ("allocation (malloc/free, object alloc/dealloc, storage deinit)",
     r"^(_?mi_|malloc|free|calloc|realloc|operator new|operator delete|cfree|swift_allocObject|swift_deallocObject|"
     r"swift_slowAlloc|swift_slowDealloc|swift_allocBox|swift_deallocBox|swift_makeBoxUnique|\(anonymous namespace\)::destroyGenericBox|"
     r"swift_deallocClassInstance|_swift_release_dealloc|swift_deallocUninitializedObject|.*__deallocating_deinit|"
     r"_DictionaryStorage\.(deinit|allocate)|static _DictionaryStorage\.allocate|_ContiguousArrayStorage)"),
    ("SpindleHTTP parser", r"(HTTPRequestParser|HTTPRequestHead|ByteClass|HTTPBodyDecoder)"),
    ("router", r"\bRouter[.<]|Router\.(match|find)"),
    ("response writer (HTTPResponseWriter, HTTPOutputBuffer, StatusLine, HTTPDate)",
     r"(HTTPResponseWriter|HTTPOutputBuffer|StatusLine|HTTPDate|HTTPChunkedEncoder)"),
    ("HTTPTypes (HTTPFields, HTTPField, HTTPResponse)", r"(HTTPFields|HTTPField\b|HTTPField\.|HTTPResponse|HTTPRequest\b|HTTPRequest\.)"),
    ("swift-log (Logger, StreamLogHandler)", r"(Logger|LogHandler|Logging)"),
    ("fibers (Fiber, Scheduler, jump_fcontext, stacks)", r"(Fiber|Scheduler|jump_fcontext|make_fcontext|ontop_fcontext|"
                                                         r"RunQueue|StackPool|WaitQueue|TimerHeap|Deadline|fiberEntry)"),
    ("reactor / socket I/O (Reactor, Ring, TCPConnection, liburing)", r"(Reactor|\bRing\b|Ring\.|TCPConnection|BufferRing|"
                                                                      r"io_uring_|__io_uring)"),
    ("server (HTTPConnection, ObjectPool, RequestArena, Response, Context)",
     r"(HTTPConnection|ServerWorker|ObjectPool|RequestArena|Response\b|Response\.|Context\b|Context\.|Request\b|Request\.|"
     r"ReceiveBuffer|ParserBox|OutputBox|Spindle)"),
]
GROUPS = [(name, re.compile(rx)) for name, rx in GROUPS]

# Inclusive time: request-path functions (regex on the demangled symbol).
INCLUSIVE = [
    ("HTTPConnection.serve() (fiber body: all request work)", r"^HTTPConnection\.serve\(\)"),
    ("HTTPConnection.handle(_:) (one request)", r"^HTTPConnection\.handle\(_:\)"),
    ("HTTPConnection.write(_:for:keepAlive:) (serialise + send)", r"^HTTPConnection\.write\(_:for:keepAlive:\)"),
    ("TCPConnection.write(_:deadline:) (send SQE + park)", r"^TCPConnection\.write\("),
    ("Fiber.park (switch out until the CQE)", r"Fiber\.park\("),
    ("HTTPResponseWriter.writeResponse", r"HTTPResponseWriter\.writeResponse"),
    ("HTTPRequestParser.parseHead", r"HTTPRequestParser\.parseHead"),
    ("Router.match", r"Router\.match"),
    ("handler closure (Response.text)", r"static Response\.text"),
    ("HTTPFields.init(dictionaryLiteral:)", r"HTTPFields\.init\(dictionaryLiteral:\)"),
    ("HTTPResponse.init(status:headerFields:)", r"HTTPResponse\.init\(status:headerFields:\)"),
    ("Logger.subscript.setter (per-request metadata)", r"^Logger\.subscript\.setter"),
    ("  of which StreamLogHandler.prettify", r"StreamLogHandler\.prettify"),
    ("Logger deinit (Logger.Storage)", r"Logger\.Storage\.__deallocating_deinit"),
    ("ObjectPool.take()", r"ObjectPool\.take\(\)"),
    ("ObjectPool.giveBack(_:)", r"ObjectPool\.giveBack"),
    ("RequestArena.reset()", r"RequestArena\.reset"),
    ("Fiber.spawn / fiber start", r"Fiber\.spawn|Scheduler\.runFiber"),
    ("Scheduler.runLoop (outside fibers)", r"Scheduler\.runLoop"),
    ("Reactor.reap (CQEs)", r"Reactor\.reap"),
    ("HTTPConnection.complete (recv CQE handler)", r"HTTPConnection\.complete\("),
    ("HTTPConnection.startReceiving (arm recv)", r"HTTPConnection\.startReceiving"),
    ("io_uring_enter (kernel, all of it)", r"^(__x64_sys_io_uring_enter|__do_sys_io_uring_enter|io_uring_enter)"),
    ("kernel: sends (io_send -> tcp_sendmsg, incl. loopback delivery)", r"^io_send$|^tcp_sendmsg$"),
    ("kernel: receives (io_recv)", r"^io_recv$"),
    ("kernel: linked timeouts (io_queue_linked_timeout, __io_timeout_prep, io_disarm_next, io_link_timeout_prep)",
     r"^(io_queue_linked_timeout|__io_timeout_prep|io_disarm_next|io_link_timeout_prep|io_kill_timeout|io_timeout_complete|"
     r"__io_disarm_linked_timeout|io_req_tw_post_queue|io_link_timeout_fn)"),
    ("swift_getGenericMetadata (all)", r"swift_getGenericMetadata"),
    ("swift_getWitnessTable (all)", r"swift_getWitnessTable"),
    ("allocation entry points (swift_allocObject + malloc)", r"^(swift_allocObject|malloc|mi_malloc|swift_slowAlloc)$"),
]
INCLUSIVE = [(name, re.compile(rx)) for name, rx in INCLUSIVE]

NOT_A_CALLER = re.compile(r"^(swift_|_swift_|swift::|_?mi_|malloc|free|operator |__swift_|\(anonymous namespace\)|getCache|"
                          r"specialized _|_|static _|Array|ContiguousArray|Dictionary|Set|String|Substring|Sequence|"
                          r"Collection|RangeReplaceableCollection|BidirectionalCollection|MutableCollection|"
                          r"specialized (Array|ContiguousArray|Dictionary|Set|String|Sequence|Collection|"
                          r"RangeReplaceableCollection|BinaryInteger|FixedWidthInteger)|BinaryInteger|"
                          r"FixedWidthInteger|UnsafeMutable|Unsafe|protocol witness for (Sequence|Collection)|"
                          r"initializeWithCopy|outlined|thunk|partial apply|merged|@objc|\[unknown\])")


def parse(stream):
    """Yields samples: lists of (symbol, dso) from leaf to root."""
    frame = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$")
    sample = []
    for line in stream:
        if not line.strip():
            if sample:
                yield sample
                sample = []
            continue
        m = frame.match(line)
        if m:
            sym = m.group(1)
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            sample.append((sym, m.group(2)))
    if sample:
        yield sample


def kernel_group(stack):
    for sym, dso in stack:
        if "kernel" not in dso:
            break
        if KERNEL_NET.match(sym):
            return "kernel: TCP/IP + loopback (send path and the receive softirq it runs)"
        if KERNEL_URING.match(sym):
            return "kernel: io_uring (submit, issue, complete, task work, timeouts)"
        if KERNEL_SCHED.match(sym):
            return "kernel: scheduler / wakeups"
        if KERNEL_ENTRY.match(sym):
            return "kernel: syscall entry/exit"
    return "kernel: other (timers, memory, irq)"


def user_group(sym, dso):
    if "Foundation" in dso:
        return "Foundation"
    for name, rx in GROUPS:
        if rx.search(sym):
            return name
    if "libc.so" in dso or "vdso" in dso or "ld-linux" in dso:
        return "libc / vdso (memmove, clock_gettime, TLS)"
    if "libswiftCore" in dso:
        return "Swift stdlib (collections, strings, integers)"
    if re.match(r"^(specialized |merged |outlined |partial apply )?(Array|ContiguousArray|Dictionary|Set|String|_String|"
                r"Substring|Sequence|Collection|RangeReplaceableCollection|BinaryInteger|FixedWidthInteger|_Native|"
                r"__Raw|_copy|_Small|Unsafe)", sym):
        return "Swift stdlib (collections, strings, integers)"
    return f"other user space ({dso.rsplit('/', 1)[-1]})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=12, help="callers listed per runtime entry point")
    args = parser.parse_args()
    groups = collections.Counter()
    inclusive = collections.Counter()
    alloc_callers = collections.Counter()
    meta_callers = collections.Counter()
    rr_callers = collections.Counter()
    total = 0
    for stack in parse(sys.stdin):
        total += 1
        leaf, dso = stack[0]
        groups[kernel_group(stack) if "kernel" in dso else user_group(leaf, dso)] += 1
        seen = set()
        for sym, _ in stack:
            for name, rx in INCLUSIVE:
                if name not in seen and rx.search(sym):
                    seen.add(name)
                    inclusive[name] += 1
        if "kernel" in dso:
            continue
        g = user_group(leaf, dso)
        target = (alloc_callers if g.startswith("allocation") else
                  meta_callers if "metadata" in g else rr_callers if "retain/release" in g else None)
        if target is not None:
            caller = next((s for s, _ in stack[1:] if not NOT_A_CALLER.match(s)), "?")
            target[caller] += 1
    if total == 0:
        print("no samples")
        return
    pct = lambda n: 100.0 * n / total
    print(f"# {total} samples")
    print("# self time by group")
    kernel = sum(n for g, n in groups.items() if g.startswith("kernel"))
    print(f"  {pct(kernel):6.2f} %  kernel, all")
    for g, n in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {pct(n):6.2f} %  {g}")
    print("# inclusive time of request-path functions")
    for name, _ in INCLUSIVE:
        if inclusive[name]:  # functions the profiled server does not have are left out
            print(f"  {pct(inclusive[name]):6.2f} %  {name}")
    for title, counter in (("allocation (self time) by nearest Spindle/library caller", alloc_callers),
                           ("generic metadata / witness-table lookups (self time) by nearest caller", meta_callers),
                           ("retain/release (self time) by nearest caller", rr_callers)):
        print(f"# {title}")
        for caller, n in counter.most_common(args.top):
            print(f"  {pct(n):6.2f} %  {caller}")


if __name__ == "__main__":
    main()
