"""Per-request instruction counts by function from callgrind profiles (bench/profile).

  per_request.py PROFILE REQUESTS                      the top functions of one profile
  per_request.py A_PROFILE A_REQUESTS B_PROFILE B_REQUESTS   the functions whose count changed most

Exclusive counts (the function's own instructions), divided by the requests the profile covers.
A function renamed between the two binaries shows as one going and one coming.
"""
import re
import subprocess
import sys


def per_function(profile, requests):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", profile], capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        match = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?) \[", line)
        if not match or "PROGRAM TOTALS" in line:
            continue
        name = match.group(2).split(":", 1)[-1]
        name = re.sub(r"'\d+$", "", name)  # callgrind's recursion marks
        counts[name] = counts.get(name, 0) + int(match.group(1).replace(",", "")) / requests
    return counts


def main():
    args = sys.argv[1:]
    if len(args) == 2:
        counts = per_function(args[0], int(args[1]))
        print(f"{sum(counts.values()):9.1f}  all")
        for name, count in sorted(counts.items(), key=lambda item: -item[1])[:30]:
            print(f"{count:9.1f}  {name[:140]}")
    elif len(args) == 4:
        a, b = per_function(args[0], int(args[1])), per_function(args[2], int(args[3]))
        print(f"{'A':>9} {'B':>9} {'B - A':>9}")
        print(f"{sum(a.values()):9.1f} {sum(b.values()):9.1f} {sum(b.values()) - sum(a.values()):+9.1f}  all")
        for name in sorted(set(a) | set(b), key=lambda n: -abs(b.get(n, 0) - a.get(n, 0)))[:40]:
            print(f"{a.get(name, 0):9.1f} {b.get(name, 0):9.1f} {b.get(name, 0) - a.get(name, 0):+9.1f}  {name[:140]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
