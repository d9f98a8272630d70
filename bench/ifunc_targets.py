"""Prints the functions that glibc's IFUNC resolvers picked for this CPU in a running
static binary: memcpy, strlen and the like come in SSE2, AVX2, EVEX and AVX-512 variants,
and valgrind's virtual CPU picks other ones than the real CPU does, so a profile alone
misses the variants a real probe runs.

Usage: python3 bench/ifunc_targets.py PID BINARY
BINARY must be the running file, or one with the same layout and a symbol table."""

import bisect
import struct
import subprocess
import sys


def main() -> None:
    pid, binary = int(sys.argv[1]), sys.argv[2]
    relocations = subprocess.run(
        ["readelf", "-rW", binary], capture_output=True, text=True, check=True
    ).stdout
    # Each IRELATIVE relocation is a slot that start-up fills with the chosen variant.
    slots = [int(line.split()[0], 16) for line in relocations.splitlines() if "IRELATIVE" in line]
    symbols = []
    for line in subprocess.run(
        ["nm", "-n", binary], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "tTW":
            symbols.append((int(fields[0], 16), fields[2]))
    addresses = [address for address, _ in symbols]
    seen = set()
    with open(f"/proc/{pid}/mem", "rb") as memory:
        for slot in slots:
            memory.seek(slot)
            (target,) = struct.unpack("<Q", memory.read(8))
            index = bisect.bisect_right(addresses, target) - 1
            if index >= 0 and symbols[index][1] not in seen:
                seen.add(symbols[index][1])
                print(symbols[index][1])


if __name__ == "__main__":
    main()
