// fiber-bench: Spindle's fiber-core benchmarks against a raw C switch, Swift Tasks and Go.
//
//   fiber-bench [all] [--go PATH] [--csv PATH] [--quick]   the whole suite, the table, the goals
//   fiber-bench one NAME [--reps N] [--quick]              one in-process benchmark: prints
//                                                          `NAME <ns> <ns> …` (one per repetition)
//   fiber-bench parked N                                   N parked fibers (one line)
//   fiber-bench touch N                                    their page-fault floor (C)
//   fiber-bench touch-guarded N                            the same with the stacks' guards (C)
//   fiber-bench round-robin N [ROUNDS]                     N fibers yielding in turn (Scale.swift)
//   fiber-bench spawn-only BATCHES                         the loop strace watches
//
// `all` runs the others as child processes of this same executable. Run it through
// `make -C bench fibers`, which builds the Go peer and pins everything to one CPU.
// See Docs/benchmarks/fibers.md for how to read the output.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Prints the usage and exits with `status`.
func usage(_ status: Int32) -> Never {
    fputsStderr("""
        usage: fiber-bench [all] [--go PATH] [--csv PATH] [--quick]
               fiber-bench one \(Suite.inProcess.joined(separator: "|")) [--reps N] [--quick]
               fiber-bench parked N
               fiber-bench touch N
               fiber-bench touch-guarded N
               fiber-bench round-robin N [ROUNDS]
               fiber-bench spawn-only BATCHES
        """)
    exit(status)
}

/// Flags after the mode: `--go`, `--csv`, `--reps`, `--quick`.
func parseFlags(_ flags: ArraySlice<String>, into options: inout Suite.Options, csvPath: inout String?) {
    var rest = flags
    while let flag = rest.popFirst() {
        switch flag {
        case "--go":
            guard let path = rest.popFirst() else { usage(2) }
            options.goPeer = path
        case "--csv":
            guard let path = rest.popFirst() else { usage(2) }
            csvPath = path
        case "--reps":
            guard let n = rest.popFirst().flatMap({ Int($0) }), n > 0 else { usage(2) }
            options.repetitions = n
        case "--quick": options.makeQuick()
        case "--help", "-h": usage(0)
        default: usage(2)
        }
    }
}

var arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first.map { $0.hasPrefix("-") ? "all" : arguments.removeFirst() } ?? "all"
var options = Suite.Options()
var csvPath: String? = "out/fibers.csv"

switch mode {
case "all":
    parseFlags(arguments, into: &options, csvPath: &csvPath)
    writeLine("fiber-bench: Spindle fiber core\n" + Machine.summary)
    writeLine("samples    \(options.processes) fresh processes × \(options.repetitions) repetitions (+1 warm-up each), interleaved; medians\n")
    let report = Suite(options: options).run()
    writeLine(report.markdown)
    if let csvPath {
        if writeTextFile(csvPath, report.csv) {
            writeLine("CSV written to \(csvPath)")
        } else {
            fputsStderr("fiber-bench: could not write \(csvPath)")
        }
    }
    // A FAIL is a result; a measurement that did not run is a broken benchmark.
    if !report.missing.isEmpty {
        fputsStderr("fiber-bench: no result for \(report.missing.joined(separator: ", "))")
        exit(1)
    }

case "one":
    guard let name = arguments.popFirst() else { usage(2) }
    parseFlags(arguments, into: &options, csvPath: &csvPath)
    guard let samples = Suite.single(name, options: options) else { usage(2) }
    writeLine(([name] + samples.values.map { fixed($0, 2) }).joined(separator: " "))
    // A summary for a person at a terminal (not when `all` reads the output through a pipe).
    if isatty(1) != 0 { fputsStderr("\(name): median \(fixed(samples.median, 2)) ns/op (min \(fixed(samples.min, 2)), max \(fixed(samples.max, 2)))") }

case "parked":
    guard let n = arguments.first.flatMap({ Int($0) }), n > 0 else { usage(2) }
    writeLine(Parked.run(count: n).line)

case "touch":
    guard let n = arguments.first.flatMap({ Int($0) }), n > 0 else { usage(2) }
    writeLine(Parked.firstTouchLine(count: n))

case "touch-guarded":
    guard let n = arguments.first.flatMap({ Int($0) }), n > 0 else { usage(2) }
    writeLine(Parked.guardedTouchLine(count: n))

case "round-robin":
    guard let n = arguments.first.flatMap({ Int($0) }), n > 0 else { usage(2) }
    let rounds = arguments.dropFirst().first.flatMap { Int($0) } ?? RoundRobin.defaultRounds(fibers: n)
    guard rounds > 0 else { usage(2) }
    writeLine(RoundRobin.line(count: n, rounds: rounds))

case "spawn-only":
    guard let batches = arguments.first.flatMap({ Int($0) }), batches >= 0 else { usage(2) }
    SpindleBenchmarks.spawnOnly(batches: batches)

case "help":
    usage(0)

default:
    usage(2)
}
