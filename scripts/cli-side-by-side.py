#!/usr/bin/env python3
"""The `replica` CLI beside the `zstd` CLI on the same bytes, in one run (issue 10, goals 1 and 5).

Usage: scripts/cli-side-by-side.py REPLICA CORPORA ROUNDS SET [SET...]

Each SET is a directory under CORPORA (as `scripts/fetch-corpora.sh` lays them out); its files are concatenated
in sorted order into one input (a temporary file), which every command then compresses to a pipe:
`replica -c -T1`, `replica -c -T2`, `zstd -3 --long=27 -T1`, `zstd -3 --long=27 -T0` and `zstd -3 -T1`;
then `replica -d` (-T1, -T2) and `zstd -d --long=27` decode those outputs. Rounds are interleaved (every command
once per round) so a changing machine slows each row alike. Wall time is the median of the rounds. The script
fails if `-T1` and `-T2` outputs differ or a decode does not give back the input's length.
"""
import hashlib, os, statistics, subprocess, sys, tempfile, time

def run(command, stdin=None):
    start = time.perf_counter()
    out = subprocess.run(command, input=stdin, stdout=subprocess.PIPE, check=True).stdout
    return out, time.perf_counter() - start

def measure(replica, directory, rounds):
    with tempfile.NamedTemporaryFile(prefix="replica-side-by-side-") as joined:
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), "rb") as part:
                joined.write(part.read())
        joined.flush()
        size = os.path.getsize(joined.name)
        encoders = {
            "replica -c -T1": [replica, "-c", "-T1", joined.name],
            "replica -c -T2": [replica, "-c", "-T2", joined.name],
            "zstd -3 --long=27 -T1": ["zstd", "-3", "--long=27", "-T1", "-c", joined.name],
            "zstd -3 --long=27 -T0": ["zstd", "-3", "--long=27", "-T0", "-c", joined.name],
            "zstd -3 -T1": ["zstd", "-3", "-T1", "-c", joined.name],
        }
        times = {name: [] for name in encoders}
        outputs = {}
        for _ in range(rounds):
            for name, command in encoders.items():
                outputs[name], seconds = run(command)
                times[name].append(seconds)
        if outputs["replica -c -T1"] != outputs["replica -c -T2"]:
            sys.exit(f"FAILED: {directory}: -T1 and -T2 outputs differ")
        decoders = {
            "replica -d -T1": ([replica, "-d", "-c", "-T1"], outputs["replica -c -T1"]),
            "replica -d -T2": ([replica, "-d", "-c", "-T2"], outputs["replica -c -T1"]),
            "zstd -d --long=27": (["zstd", "-d", "--long=27", "-c"], outputs["zstd -3 --long=27 -T1"]),
        }
        for name in decoders:
            times[name] = []
        for _ in range(rounds):
            for name, (command, stream) in decoders.items():
                decoded, seconds = run(command, stream)
                if len(decoded) != size:
                    sys.exit(f"FAILED: {directory}: {name} gave {len(decoded)} bytes, not {size}")
                times[name].append(seconds)
        return size, outputs, times

def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    replica, corpora, rounds, sets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    print(f"binary {replica}; {rounds} rounds; load average {os.getloadavg()[0]:.2f} at start")
    for name in sets:
        size, outputs, times = measure(replica, os.path.join(corpora, name), rounds)
        print(f"\n{name}: {size:,} bytes ({size / 2**20:.1f} MiB), load average {os.getloadavg()[0]:.2f}")
        print("| command | output bytes | ratio | wall s, median (min-max) | MB/s | vs zstd -3 --long=27 -T1 |")
        print("|---|--:|--:|--:|--:|--:|")
        baseline = statistics.median(times["zstd -3 --long=27 -T1"])
        baseline_decode = statistics.median(times["zstd -d --long=27"])
        for command, samples in times.items():
            median = statistics.median(samples)
            reference = baseline_decode if "-d" in command.split() else baseline
            bytes_column = f"{len(outputs[command]):,} | {size / len(outputs[command]):.3f}" if command in outputs else " | "
            print(f"| `{command}` | {bytes_column} | {median:.3f} ({min(samples):.3f}-{max(samples):.3f}) "
                  f"| {size / median / 1e6:.1f} | {reference / median:.2f}x |")

if __name__ == "__main__":
    main()
