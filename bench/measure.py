"""Measures one health probe per tool, side by side, and writes the tables to BENCHMARKS.md.

bench/run.sh installs the tools, builds the binaries, starts the server and calls this;
see its header and docs/benchmark.md. Standard library only."""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

# The targets healthprobe must meet (issue 4), all on the healthy HTTP probe.
MAX_INSTRUCTIONS = 100_000
MAX_WALL_RATIO = 1.15
MAX_RSS_KB = 1000
MAX_SIZE_OVER_HELLO = 400 * 1024
# Issue 11's targets for the shipped artifact (the x86_64 musl binary), stricter.
SHIPPED_MAX_INSTRUCTIONS = 70_000
SHIPPED_MAX_RSS_KB = 600
SHIPPED_MAX_SIZE = 650_000
# What each variable of a container's environment may add to a healthy HTTP probe.
MAX_INSTRUCTIONS_PER_VARIABLE = 20
# The environments of that figure: what `env -i` with 2 variables gives, and a crowded
# container's (Kubernetes adds seven variables for every service in the namespace).
FEW_VARIABLES = 2
MANY_VARIABLES = 500
# Wall times come in rounds of this many runs of each command, each round after a few
# warm-up runs of its own.
ROUND_RUNS = 10
ROUND_WARMUP = 2
# Runs kept in BENCHMARKS.md, newest first.
KEPT_RUNS = 3
RUN_MARK = "<!-- run -->"


@dataclass
class Peer:
    name: str
    binary: str
    http: list | None = None
    tcp: list | None = None
    # Figures per probe kind ("http", "tcp"): wall (s), instructions, rss (KB).
    figures: dict = field(default_factory=dict)
    footprint: int = 0
    files: list = field(default_factory=list)


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def tool_version(argv, pattern=None):
    try:
        result = run(argv, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (result.stdout + result.stderr).strip()
    if pattern:
        match = re.search(pattern, text)
        return match.group(0) if match else "?"
    return text.splitlines()[0] if text else "?"


def deb_version(package):
    result = run(["dpkg-query", "-W", "-f=${Version}", package])
    return result.stdout.strip() if result.returncode == 0 else "?"


def make_peers(args):
    url = f"http://127.0.0.1:{args.port}/health"
    tcp = f"tcp://127.0.0.1:{args.port}"
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    node = shutil.which("node")
    busybox = shutil.which("busybox")
    peers = [
        Peer("healthprobe (static)", args.healthprobe, [args.healthprobe, url],
             [args.healthprobe, tcp]),
        Peer("python3 urllib", python,
             [python, "-c", f"import urllib.request; urllib.request.urlopen('{url}')"],
             [python, "-c",
              f"import socket; socket.create_connection(('127.0.0.1', {args.port}), 2).close()"]),
    ]
    if node:
        peers.append(Peer(
            "node http.get", node,
            [node, "-e", f"require('http').get('{url}', (r) => process.exit(r.statusCode < 400"
                         " ? 0 : 1)).on('error', () => process.exit(1))"],
            [node, "-e", f"require('net').connect({args.port}, '127.0.0.1', () => process.exit(0))"
                         ".on('error', () => process.exit(1))"]))
    curl, wget, nc = shutil.which("curl"), shutil.which("wget"), shutil.which("nc")
    peers += [
        Peer("curl", curl, [curl, "-fsS", "-o", "/dev/null", "--max-time", "2", url]),
        Peer("GNU wget", wget, [wget, "-q", "--spider", "-T", "2", "-t", "1", url]),
        Peer("busybox wget (static)", busybox, [busybox, "wget", "-q", "--spider", url]),
        Peer("nc -z (OpenBSD)", nc, None, [nc, "-z", "-w", "2", "127.0.0.1", str(args.port)]),
        Peer("C floor (bench/floor.c, static)", args.floor, [args.floor, url], [args.floor, tcp]),
        Peer("/bin/true", "/bin/true", ["/bin/true"], ["/bin/true"]),
    ]
    return peers


def evict(path):
    """Drops a file's clean, unmapped pages from the page cache, so that every binary and
    library is read in the same way (by readahead, as on a container's first run): how a
    file came into the cache changes how much of it one page fault maps."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError:
        pass


def loaded_files(peer, work):
    """The binary and every shared library it loads: ldd's list, and what the dynamic
    loader reports at run time (dlopen'd modules included)."""
    files = {os.path.realpath(peer.binary)}
    ldd = run(["ldd", peer.binary])
    for line in ldd.stdout.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            files.add(os.path.realpath(match.group(1)))
    argv = peer.http or peer.tcp
    prefix = os.path.join(work, "ld-debug")
    env = dict(os.environ, LD_DEBUG="libs", LD_DEBUG_OUTPUT=prefix)
    subprocess.run(argv, env=env, capture_output=True, timeout=60)
    for name in os.listdir(work):
        if name.startswith("ld-debug."):
            path = os.path.join(work, name)
            with open(path, errors="replace") as log:
                for line in log:
                    match = re.search(r"calling init: (/\S+)", line)
                    if match:
                        files.add(os.path.realpath(match.group(1)))
            os.unlink(path)
    return sorted(files)


def instructions(argv, work, name="probe", env=None):
    """User-space instructions of one run, counted by callgrind (deterministic, unlike
    hardware counters, which this machine does not have). `env`: the probe's whole
    environment, if not this process's."""
    out = os.path.join(work, f"callgrind.{name}.out")
    result = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--"] + argv,
                 timeout=900, env=env)
    with open(out) as profile:
        for line in profile:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1]), result.returncode
    raise RuntimeError(f"no totals in {out}")


def service_variables(count):
    """`count` variables as Kubernetes sets them for the services of a namespace (seven
    each), after PATH and HOME."""
    variables = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root"}
    service = 0
    while len(variables) < count:
        name, address, port = f"SERVICE_{service}", f"10.96.{service // 250}.{service % 250}", 8080
        for key, value in (
                ("SERVICE_HOST", address), ("SERVICE_PORT", port), ("PORT", f"tcp://{address}:{port}"),
                (f"PORT_{port}_TCP", f"tcp://{address}:{port}"), (f"PORT_{port}_TCP_PROTO", "tcp"),
                (f"PORT_{port}_TCP_PORT", port), (f"PORT_{port}_TCP_ADDR", address)):
            if len(variables) < count:
                variables[f"{name}_{key}"] = str(value)
        service += 1
    return variables


def environment_cost(args, work):
    """One healthy HTTP probe of the benchmarked binary with FEW_VARIABLES and with
    MANY_VARIABLES in its environment: instructions, and what each variable adds."""
    argv = [args.healthprobe, f"http://127.0.0.1:{args.port}/health"]
    few, _ = instructions(argv, work, "few", service_variables(FEW_VARIABLES))
    many, _ = instructions(argv, work, "many", service_variables(MANY_VARIABLES))
    return few, many, (many - few) / (MANY_VARIABLES - FEW_VARIABLES)


def peak_rss(argv, work, files, times=5):
    """Peak resident set size in KB (GNU time's %M), the median of a few runs after the
    files are dropped from the page cache and read in again by one run, as on a
    container's first probe. The kernel maps a file's pages in blocks around each fault,
    and the blocks depend on how the pages came into the cache: so that all peers are
    measured alike."""
    for path in files:
        evict(path)
    subprocess.run(argv, capture_output=True)
    out = os.path.join(work, "time.out")
    values = []
    for _ in range(times):
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + argv, capture_output=True)
        with open(out) as report:
            values.append(int(report.read().split()[-1]))
    return int(statistics.median(values))


def hyperfine(commands, runs, warmup, work, ignore_failure=False):
    """Wall times in seconds per command name, from one hyperfine run without a shell."""
    out = os.path.join(work, "hyperfine.json")
    argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
            "--export-json", out]
    if ignore_failure:
        argv.append("-i")
    for name, command in commands:
        argv += ["-n", name, shlex.join(command)]
    result = run(argv)
    if result.returncode != 0:
        raise RuntimeError(f"hyperfine failed: {result.stderr.strip()}")
    with open(out) as report:
        return {entry["command"]: entry["times"] for entry in json.load(report)["results"]}


def wall_times(peers, args, work):
    """Median wall time per peer and kind. The runs come in rounds of ROUND_RUNS, each
    round running every command, so that the load of a shared machine, which drifts over
    seconds, falls on all peers alike."""
    commands = [(f"{peer.name}|{kind}", getattr(peer, kind))
                for peer in peers for kind in ("http", "tcp") if getattr(peer, kind)]
    times = {name: [] for name, _ in commands}
    rounds = -(-args.runs // ROUND_RUNS)
    print(f"bench: wall times, {rounds} rounds", file=sys.stderr)
    for round_index in range(rounds):
        warmup = args.warmup if round_index == 0 else ROUND_WARMUP
        for name, values in hyperfine(commands, ROUND_RUNS, warmup, work).items():
            times[name] += values
    for peer in peers:
        for kind in ("http", "tcp"):
            values = times.get(f"{peer.name}|{kind}")
            if values:
                peer.figures.setdefault(kind, {})["wall"] = statistics.median(values)
                peer.figures[kind]["runs"] = len(values)


def ratio(value, floor):
    if value is None or not floor:
        return ""
    return f"{value / floor:.2f}x"


def fmt_ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def kb(size):
    return f"{round(size / 1024):,} KB"


def table(peers, kind, floor):
    rows = [
        "| peer | median wall | × floor | instructions | × floor | peak RSS | × floor "
        "| on disk | × floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = floor.figures[kind]
    for peer in peers:
        figures = peer.figures.get(kind)
        if not figures:
            continue
        rows.append(
            f"| {peer.name} | {fmt_ms(figures['wall'])} | {ratio(figures['wall'], base['wall'])} "
            f"| {figures['instructions']:,} | {ratio(figures['instructions'], base['instructions'])} "
            f"| {figures['rss']:,} KB | {ratio(figures['rss'], base['rss'])} "
            f"| {kb(peer.footprint)} | {ratio(peer.footprint, floor.footprint)} |")
    return "\n".join(rows)


def size_breakdown(symbols_binary, hello_symbols):
    """Where the static binary's bytes go, by owner, and what it has that hello has not."""
    def sizes(binary):
        listing = run(["nm", "-S", "--size-sort", "-C", binary]).stdout
        entries = {}
        for line in listing.splitlines():
            fields = line.split(maxsplit=3)
            if len(fields) == 4 and fields[2] in "tTrRdDbB":
                entries[fields[3]] = entries.get(fields[3], 0) + int(fields[1], 16)
        return entries

    def owner(name):
        name = name.lstrip("<&*")
        for prefix, label in (
            ("healthprobe::", "healthprobe (ours)"),
            ("ureq", "ureq, ureq-proto"), ("http::", "http, httparse, bytes"),
            ("httparse::", "http, httparse, bytes"), ("bytes::", "http, httparse, bytes"),
            ("pico_args::", "pico-args"),
            ("std", "Rust std, core, alloc"), ("core", "Rust std, core, alloc"),
            ("alloc", "Rust std, core, alloc"), ("hashbrown", "Rust std, core, alloc"),
            ("gimli", "Rust std, core, alloc"), ("addr2line", "Rust std, core, alloc"),
            ("miniz_oxide", "Rust std, core, alloc"), ("rustc_demangle", "Rust std, core, alloc"),
        ):
            if name.startswith(prefix):
                return label
        if "::" in name or name.startswith("_R"):
            return "other Rust (crates, generics)"
        return "glibc and libgcc (C)"

    ours, hello = sizes(symbols_binary), sizes(hello_symbols)
    by_owner, extra = {}, {}
    for name, size in ours.items():
        by_owner[owner(name)] = by_owner.get(owner(name), 0) + size
        if name not in hello:
            extra[owner(name)] = extra.get(owner(name), 0) + size
    rows = ["| owner | in healthprobe | not in hello |", "|---|---:|---:|"]
    for label, size in sorted(by_owner.items(), key=lambda item: -item[1]):
        rows.append(f"| {label} | {kb(size)} | {kb(extra.get(label, 0))} |")
    rows.append(f"| total (symbols) | {kb(sum(by_owner.values()))} | {kb(sum(extra.values()))} |")
    return "\n".join(rows)


def profile(symbols_binary, url, work):
    """callgrind_annotate of one healthy HTTP probe: the top entries, inclusive and self,
    and the self cost by owner."""
    out = os.path.join(work, "callgrind.profile.out")
    run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", symbols_binary, url])

    def annotate(*options):
        text = run(["callgrind_annotate", "--threshold=100", *options, out]).stdout
        entries = []
        for line in text.splitlines():
            match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*?)(?: \[.*\])?$", line)
            if match:
                cost = int(match.group(1).replace(",", ""))
                name = re.sub(r"^(\?\?\?|/rustc/\w+/library/\S+?):", "", match.group(2))
                entries.append((cost, name))
        return entries

    self_costs = [entry for entry in annotate() if entry[1] != "PROGRAM TOTALS"]
    inclusive = annotate("--inclusive=yes")
    total = next(cost for cost, name in annotate() if name == "PROGRAM TOTALS")
    main = next((cost for cost, name in inclusive if name == "main"), 0)

    def owner(name):
        if name.startswith(("healthprobe::", "main")) or "healthprobe::" in name:
            return "ours (healthprobe)"
        if re.match(r"<?(ureq|http|httparse|bytes|base64|percent_encoding)", name) \
                or "ureq" in name:
            return "ureq and its crates (http, httparse, bytes)"
        if re.search(r"malloc|free|realloc|calloc|tcache|_int_|ptmalloc|__rust_(alloc|dealloc|realloc)",
                     name):
            return "allocator (glibc malloc)"
        if re.match(r"__(mem|str|stp|raw|wmem|wcs)", name):
            return "memset, memcpy and other string functions (glibc)"
        if "::" in name or name.startswith("<"):
            return "Rust std, core, alloc"
        return "glibc: start-up, exit and system call wrappers"

    by_owner = {}
    for cost, name in self_costs:
        by_owner[owner(name)] = by_owner.get(owner(name), 0) + cost

    def short(name, width=110):
        return name if len(name) <= width else name[: width - 1] + "…"

    lines = [
        f"Healthy HTTP probe, {total:,} instructions; before and after `main` (glibc start-up "
        f"and exit): {total - main:,}; in `main`: {main:,}.",
        "",
        "Self cost by owner:",
        "",
        "| owner | instructions | share |",
        "|---|---:|---:|",
    ]
    for label, cost in sorted(by_owner.items(), key=lambda item: -item[1]):
        lines.append(f"| {label} | {cost:,} | {cost / total:.0%} |")
    lines += ["", "Top entries, inclusive (callgrind_annotate --inclusive=yes):", "", "```"]
    # "'2" marks a second, recursive entry into a function: counted twice, so left out.
    inclusive = [(cost, name) for cost, name in inclusive if "'" not in name]
    lines += [f"{cost:>9,}  {short(name)}" for cost, name in inclusive[:25]]
    lines += ["```", "", "Top entries, self (callgrind_annotate):", "", "```"]
    lines += [f"{cost:>9,}  {short(name)}" for cost, name in self_costs[:20]]
    lines += ["```"]
    return "\n".join(lines), total


def nginx_state(pid, port):
    """What the server holds: open descriptors, resident memory, connections by state."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    states = {}
    ss = run(["ss", "-tanH", f"sport = :{port} or dport = :{port}"]).stdout
    for line in ss.splitlines():
        state = line.split()[0]
        if state != "LISTEN":
            states[state] = states.get(state, 0) + 1
    return fds, rss, states


def scale_and_failures(args, peers, work):
    """100 targets in one run, 1,000 runs back to back, and the failure paths."""
    hp, floor = args.healthprobe, args.floor
    url = f"http://127.0.0.1:{args.port}/health"
    lines = []

    single = next(peer for peer in peers if peer.name.startswith("healthprobe")).figures
    rows = ["| run | median wall | instructions | peak RSS | per target: wall, instructions |",
            "|---|---:|---:|---:|---:|"]
    for kind, target in (("http", url), ("tcp", f"tcp://127.0.0.1:{args.port}")):
        argv = [hp] + [target] * 100
        wall = statistics.median(hyperfine([("many", argv)], 30, 3, work)["many"])
        count, code = instructions(argv, work, "many")
        rss = peak_rss(argv, work, [hp], 3)
        rows.append(
            f"| 100 × {kind} targets, one invocation | {fmt_ms(wall)} | {count:,} | {rss:,} KB "
            f"| {fmt_ms(wall / 100)}, {count // 100:,} |")
        rows.append(
            f"| 1 {kind} target (table above) | {fmt_ms(single[kind]['wall'])} "
            f"| {single[kind]['instructions']:,} | {single[kind]['rss']:,} KB | |")
        if code != 0:
            rows.append(f"| (exit code {code}: some targets failed) | | | | |")
    lines += ["### 100 targets in one invocation", "",
              "Probed concurrently (a thread each) under the one deadline.", ""] + rows

    before = nginx_state(args.nginx_pid, args.port)
    with open("/proc/sys/fs/file-nr") as handles:
        system_before = int(handles.read().split()[0])
    times = hyperfine([("repeat", [hp, url])], 1000, 10, work)["repeat"]
    after = nginx_state(args.nginx_pid, args.port)
    with open("/proc/sys/fs/file-nr") as handles:
        system_after = int(handles.read().split()[0])
    leftover = run(["pgrep", "-f", f"^{hp} "]).stdout.split()
    blocks = [statistics.median(times[i:i + 100]) for i in range(0, len(times), 100)]
    lines += [
        "", "### 1,000 invocations back to back", "",
        f"`hyperfine -N --runs 1000` of the healthy HTTP probe: {len(times)} runs, "
        f"{sum(times):.2f} s in all, {fmt_ms(sum(times) / len(times))} a run on average.",
        "",
        "Median wall per block of 100 runs (flat = linear growth): "
        + ", ".join(f"{value * 1000:.2f}" for value in blocks) + " ms.",
        "",
        f"Left behind: healthprobe processes still running: {len(leftover)}; "
        f"nginx open descriptors {before[0]} before, {after[0]} after; nginx RSS "
        f"{before[1]:,} KB before, {after[1]:,} KB after; connections to the port other than "
        f"LISTEN: {states(before[2])} before, {states(after[2])} after (TIME-WAIT is the "
        f"server's side of each closed connection, kept by the kernel for 60 s); open file "
        f"handles system-wide: {system_before:,} before, {system_after:,} after (the machine "
        f"is shared, so this moves with other work).",
    ]

    closed = args.closed
    cases = [
        ("healthy HTTP 200", [hp, url], [floor, url], 0),
        ("HTTP 503", [hp, f"http://127.0.0.1:{args.port}/unhealthy"],
         [floor, f"http://127.0.0.1:{args.port}/unhealthy"], 1),
        ("HTTP, closed port", [hp, f"http://127.0.0.1:{closed}/health"],
         [floor, f"http://127.0.0.1:{closed}/health"], 1),
        ("healthy TCP", [hp, f"tcp://127.0.0.1:{args.port}"],
         [floor, f"tcp://127.0.0.1:{args.port}"], 0),
        ("TCP, closed port", [hp, f"tcp://127.0.0.1:{closed}"],
         [floor, f"tcp://127.0.0.1:{closed}"], 1),
    ]
    commands = []
    for label, ours, theirs, _ in cases:
        commands += [(f"hp|{label}", ours), (f"floor|{label}", theirs)]
    walls = {name: [] for name, _ in commands}
    for round_index in range(10):
        warmup = args.warmup if round_index == 0 else ROUND_WARMUP
        for name, values in hyperfine(commands, ROUND_RUNS, warmup, work,
                                      ignore_failure=True).items():
            walls[name] += values
    rows = ["| path | exit | median wall | instructions | peak RSS | C floor: wall, instructions |",
            "|---|---:|---:|---:|---:|---:|"]
    costs = {}
    for label, ours, theirs, expected in cases:
        count, code = instructions(ours, work, "failure")
        floor_count, _ = instructions(theirs, work, "failure-floor")
        rss = peak_rss(ours, work, [hp], 3)
        wall = statistics.median(walls[f"hp|{label}"])
        costs[label] = (count, wall)
        mark = "" if code == expected else f" (expected {expected})"
        rows.append(
            f"| {label} | {code}{mark} | {fmt_ms(wall)} | {count:,} | {rss:,} KB "
            f"| {fmt_ms(statistics.median(walls[f'floor|{label}']))}, {floor_count:,} |")
    verdicts = []
    for label, healthy in (("HTTP 503", "healthy HTTP 200"), ("HTTP, closed port", "healthy HTTP 200"),
                           ("TCP, closed port", "healthy TCP")):
        count, wall = costs[label]
        base_count, base_wall = costs[healthy]
        verdicts.append(f"{label}: instructions {count / base_count - 1:+.1%}, "
                        f"wall {wall / base_wall - 1:+.1%}")
    lines += ["", "### Failure paths", "",
              "Each should cost no more than the healthy probe of its kind.", ""] + rows
    lines += ["", "Against the healthy probe of the same kind: " + "; ".join(verdicts) + "."]
    return "\n".join(lines), costs


def states(counts):
    if not counts:
        return "none"
    return ", ".join(f"{count:,} {state}" for state, count in sorted(counts.items()))


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        memory = int(info.readline().split()[1]) // (1024 * 1024)
    release = "?"
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as info:
            for line in info:
                if line.startswith("PRETTY_NAME="):
                    release = line.split("=", 1)[1].strip().strip('"')
    return (f"{cpu}, {os.cpu_count()} cores, {memory} GiB, Linux {platform.release()}, "
            f"{release}; shared with other work, so wall times carry noise that the medians "
            f"and the interleaved rounds only damp")


def versions(args):
    node = shutil.which("node")
    items = [
        ("", tool_version([args.healthprobe, "--version"])),
        ("", args.rustc),
        ("gcc", tool_version(["gcc", "--version"])),
        ("glibc", deb_version("libc6")),
        ("nginx", tool_version(["nginx", "-v"], r"nginx/\S+")),
        ("python3", tool_version(["/usr/bin/python3", "--version"])),
        ("node", tool_version([node, "--version"]) if node else "not installed"),
        ("curl", tool_version(["curl", "--version"], r"curl \S+")),
        ("GNU wget", tool_version(["wget", "--version"], r"Wget \S+")),
        ("busybox", tool_version(["busybox"], r"v[\d.]+")),
        ("netcat-openbsd", deb_version("netcat-openbsd")),
        ("hyperfine", tool_version(["hyperfine", "--version"])),
        ("valgrind", tool_version(["valgrind", "--version"])),
    ]
    return ", ".join(f"{name} {version}".strip() for name, version in items)


def targets(peers, size, hello_size, per_variable):
    ours = next(peer for peer in peers if peer.name.startswith("healthprobe"))
    floor = next(peer for peer in peers if peer.name.startswith("C floor"))
    http = ours.figures["http"]
    rivals = [peer for peer in peers
              if peer is not ours and peer is not floor and peer.name != "/bin/true"
              and "http" in peer.figures]
    fastest = min(rivals, key=lambda peer: peer.figures["http"]["wall"])
    wall_ratio = http["wall"] / floor.figures["http"]["wall"]

    def verdict(met):
        return "**met**" if met else "**missed**"

    checks = [
        (f"healthy HTTP probe ≤ {MAX_INSTRUCTIONS:,} instructions",
         http["instructions"] <= MAX_INSTRUCTIONS, f"{http['instructions']:,}"),
        (f"median wall ≤ {MAX_WALL_RATIO}x the C floor", wall_ratio <= MAX_WALL_RATIO,
         f"{wall_ratio:.2f}x ({fmt_ms(http['wall'])} against {fmt_ms(floor.figures['http']['wall'])})"),
        ("median wall below every listed peer",
         http["wall"] < fastest.figures["http"]["wall"],
         f"fastest peer: {fastest.name}, {fmt_ms(fastest.figures['http']['wall'])}"),
        (f"peak RSS ≤ {MAX_RSS_KB:,} KB", http["rss"] <= MAX_RSS_KB, f"{http['rss']:,} KB"),
        ("static binary ≤ static hello + 400 KB", size - hello_size <= MAX_SIZE_OVER_HELLO,
         f"{size:,} B against {hello_size:,} B: +{(size - hello_size) / 1024:,.1f} KB"),
        (f"shipped binary: healthy HTTP probe ≤ {SHIPPED_MAX_INSTRUCTIONS:,} instructions",
         http["instructions"] <= SHIPPED_MAX_INSTRUCTIONS, f"{http['instructions']:,}"),
        (f"shipped binary: peak RSS ≤ {SHIPPED_MAX_RSS_KB:,} KB",
         http["rss"] <= SHIPPED_MAX_RSS_KB, f"{http['rss']:,} KB"),
        (f"shipped binary ≤ {SHIPPED_MAX_SIZE:,} bytes", size <= SHIPPED_MAX_SIZE, f"{size:,} B"),
        (f"≤ {MAX_INSTRUCTIONS_PER_VARIABLE} instructions per environment variable",
         per_variable <= MAX_INSTRUCTIONS_PER_VARIABLE, f"{per_variable:,.1f}"),
    ]
    rows = ["| target | verdict | figure |", "|---|---|---|"]
    rows += [f"| {name} | {verdict(met)} | {figure} |" for name, met, figure in checks]
    return "\n".join(rows), all(met for _, met, _ in checks)


def write_report(path, run_text):
    head = (
        "# Benchmarks\n\n"
        "The cost of one health probe: healthprobe next to the tools it replaces and the "
        "physical floor, measured by `bench/run.sh` (see docs/benchmark.md "
        "for what each figure means). Each run below was written by that script; "
        f"the newest comes first and the last {KEPT_RUNS} are kept.\n\n"
    )
    previous = []
    if os.path.exists(path):
        with open(path) as existing:
            text = existing.read()
        if RUN_MARK in text:
            head = text.split(RUN_MARK)[0]
            previous = [part for part in text.split(RUN_MARK)[1:] if part.strip()]
    runs = [run_text] + previous[: KEPT_RUNS - 1]
    with open(path, "w") as report:
        report.write(head.rstrip() + "\n\n")
        report.write("\n".join(f"{RUN_MARK}\n{part.strip()}\n" for part in runs))


def main():
    parser = argparse.ArgumentParser()
    for name in ("healthprobe", "symbols", "floor", "hello", "hello-symbols", "output",
                 "command", "server", "rustc"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("port", "closed", "nginx-pid"):
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--runs", type=int, default=210)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="hp-bench-measure.")

    peers = [peer for peer in make_peers(args) if peer.binary]
    for peer in peers:
        for kind in ("http", "tcp"):
            argv = getattr(peer, kind)
            if argv and run(argv, timeout=30).returncode != 0:
                print(f"bench: {peer.name} failed its healthy {kind} probe; left out",
                      file=sys.stderr)
                setattr(peer, kind, None)
    peers = [peer for peer in peers if peer.http or peer.tcp]
    for peer in peers:
        peer.files = loaded_files(peer, work)
        peer.footprint = sum(os.path.getsize(path) for path in peer.files)
        for path in peer.files:
            evict(path)

    wall_times(peers, args, work)
    for peer in peers:
        for kind in ("http", "tcp"):
            argv = getattr(peer, kind)
            if argv:
                print(f"bench: instructions and RSS, {peer.name} {kind}", file=sys.stderr)
                peer.figures[kind]["instructions"], _ = instructions(argv, work)
                peer.figures[kind]["rss"] = peak_rss(argv, work, peer.files)

    floor = next(peer for peer in peers if peer.name.startswith("C floor"))
    url = f"http://127.0.0.1:{args.port}/health"
    print("bench: profile, scale and failure paths", file=sys.stderr)
    profile_text, _ = profile(args.symbols, url, work)
    scale_text, _ = scale_and_failures(args, peers, work)
    few, many, per_variable = environment_cost(args, work)
    size, hello_size = os.path.getsize(args.healthprobe), os.path.getsize(args.hello)
    targets_text, all_met = targets(peers, size, hello_size, per_variable)
    static_proof = run(["readelf", "-d", args.healthprobe]).stdout.strip() or "(no output)"
    ours = next(peer for peer in peers if peer.name.startswith("healthprobe"))
    runs = ours.figures["http"]["runs"]

    environment = " ".join(f"{key}={value}" for key, value in sorted(os.environ.items())
                           if key in ("PATH", "HOSTNAME", "HOME"))
    text = f"""## Run of {started:%Y-%m-%d %H:%M} UTC

- Command: `{args.command}`
- Machine: {machine()}.
- Versions: {versions(args)}.
- Server: {args.server}, on 127.0.0.1:{args.port}.
- Every command ran without a shell, with only this environment: `{environment}`.
- Wall: median of {runs} runs per command (`hyperfine -N`), in rounds of {ROUND_RUNS} runs
  of every command in turn ({args.warmup} warm-up runs first, {ROUND_WARMUP} in each later
  round). Instructions: `valgrind --tool=callgrind`, one run
  (user space, the dynamic loader included). Peak RSS: `/usr/bin/time -f %M`, median of 5.
  On disk: the binary plus every shared library it loads (ldd, and `LD_DEBUG=libs` for what
  is loaded at run time; Python's and node's own script files are not counted). Before the
  RSS runs, those files are dropped from the page cache and read in again by one run, so
  that all are mapped alike (files that other processes hold mapped, such as libc, stay).

### Targets (healthprobe, healthy HTTP probe)

{targets_text}

### Healthy HTTP probe of `{url}`

{table(peers, "http", floor)}

### Healthy TCP probe of `tcp://127.0.0.1:{args.port}`

{table(peers, "tcp", floor)}

### A container's environment

One healthy HTTP probe of `{url}` by healthprobe (static), with only PATH and HOME in its
environment and then with {MANY_VARIABLES} variables (PATH, HOME and Kubernetes-style service
variables, seven a service): `valgrind --tool=callgrind`, one run each.

| variables | instructions |
|---:|---:|
| {FEW_VARIABLES} | {few:,} |
| {MANY_VARIABLES} | {many:,} |
| per added variable | {per_variable:,.1f} |

### Size

Static healthprobe {size:,} bytes; static "hello world" (`println!`) built with the same
profile and flags {hello_size:,} bytes; difference {size - hello_size:,} bytes
({(size - hello_size) / 1024:,.1f} KB). `readelf -d` of healthprobe: "{static_proof}".
Where the bytes go (`nm -S` of the same build with its symbol table):

{size_breakdown(args.symbols, args.hello_symbols)}

### Where the instructions go

{profile_text}


{scale_text}
"""
    write_report(args.output, text)
    print(f"bench: wrote {args.output}; targets {'all met' if all_met else 'NOT all met'}",
          file=sys.stderr)
    print(targets_text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
