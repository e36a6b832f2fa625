"""Per-request instructions of a callgrind profile summed by layer (bench/profile).

  by_layer.py PROFILE REQUESTS [PROFILE REQUESTS ...]

Layers from the symbol: Swift's reference counting (swift_retain/release and friends), the rest
of the Swift runtime and standard library, each Spindle module, libc, the kernel interface
(liburing), and the remainder. One column per profile.
"""
import sys

from per_request import per_function

LAYERS = [
    ("ARC (swift_retain/release)", lambda n: n.startswith(("swift_retain", "swift_release", "swift_bridgeObjectRe", "swift_unknownObjectRe"))),
    ("Swift runtime, stdlib", lambda n: n.startswith(("swift_", "$ss", "$sS", "$sSl", "$sSa", "$sSD"))),
    ("SpindleHTTP (parse, write)", lambda n: n.startswith("$s11SpindleHTTP")),
    ("Spindle (router, connection)", lambda n: n.startswith("$s7Spindle")),
    ("SpindleIO (backends)", lambda n: n.startswith("$s9SpindleIO")),
    ("SpindleFibers", lambda n: n.startswith("$s13SpindleFibers")),
    ("SpindleMemory", lambda n: n.startswith("$s13SpindleMemory")),
    ("Hello (handlers)", lambda n: n.startswith("$s5Hello")),
    ("libc, liburing, other C", lambda n: not n.startswith("$s")),
]


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.exit(__doc__)
    columns = [per_function(args[i], int(args[i + 1])) for i in range(0, len(args), 2)]
    rows = {}
    for index, counts in enumerate(columns):
        for name, count in counts.items():
            layer = next((label for label, test in LAYERS if test(name)), "other Swift")
            rows.setdefault(layer, [0.0] * len(columns))[index] += count
    order = [label for label, _ in LAYERS] + ["other Swift"]
    for label in order:
        if label in rows:
            print(f"| {label} | " + " | ".join(f"{value:,.0f}" for value in rows[label]) + " |")
    print("| **all** | " + " | ".join(f"**{sum(c.values()):,.0f}**" for c in columns) + " |")


if __name__ == "__main__":
    main()
