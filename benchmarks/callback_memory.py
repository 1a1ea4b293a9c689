"""Peak memory of reading one large spooled callback body, one way per fresh process.

    .venv/bin/python benchmarks/callback_memory.py [--mb 60]

Writes a callback body of about ``--mb`` MB (one base64 image: a PNG signature and
random bytes) to a temporary file, then in a new Python process for each way of
reading it, reports how far the process's peak resident memory (VmHWM, reset after the imports)
rose above what it held after its imports:

- ``bytes``: the whole file read, then ``parse_callback(bytes)`` (what the worker did);
- ``json.load``: ``json.load`` on the file object, then ``parse_callback(mapping)``;
- ``ijson``: ``ijson.items`` building the object from the file (when ijson is installed;
  it yields each string whole), then ``parse_callback(mapping)``;
- ``streamed``: ``parse_callback(file)``, which decodes long strings as they are read.

No network; the image is base64 only, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from editor.upstream import parse_callback
way, path = sys.argv[1], sys.argv[2]
if way == "ijson":
    import ijson
def status_mb(field):
    with open("/proc/self/status") as fh:
        line = next(row for row in fh if row.startswith(field + ":"))
    return int(line.split()[1]) / 1024
# Linux: "5" resets the peak (VmHWM) to the current resident size; ru_maxrss cannot be
# reset and counts the parent's memory from before the exec.
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_mb("VmRSS")
def peak_mb():
    return status_mb("VmHWM")
started = time.monotonic()
with open(path, "rb") as fh:
    if way == "bytes":
        result = parse_callback(fh.read(), result_hosts=[])
    elif way == "json.load":
        result = parse_callback(json.load(fh), result_hosts=[])
    elif way == "ijson":
        result = parse_callback(next(ijson.items(fh, "")), result_hosts=[])
    else:
        result = parse_callback(fh, result_hosts=[])
seconds = time.monotonic() - started
decoded = sum(len(image.data) for image in result.images)
print(json.dumps({{"way": way, "rise_mb": peak_mb() - before, "seconds": seconds,
                  "decoded_mb": decoded / 2**20}}))
"""


def write_body(path: Path, megabytes: float) -> int:
    raw = b"\x89PNG\r\n\x1a\n" + os.urandom(int(megabytes * 2**20 * 3 / 4))
    body = {
        "success": True,
        "task_id": "6a97bf49-bench",
        "trace_id": "9b4b1ff3-bench",
        "data": {"created": 1721626477, "data": [{"b64_json": base64.b64encode(raw).decode()}]},
    }
    path.write_text(json.dumps(body))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=60, help="body size in MB (default 60)")
    args = parser.parse_args()
    ways = ["bytes", "json.load", "ijson", "streamed"]
    try:
        import ijson  # noqa: F401
    except ImportError:
        ways.remove("ijson")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "callback.json"
        size = write_body(path, min(args.mb, 200))
        print(f"callback body: {size / 2**20:.1f} MB")
        print(f"{'way':<10} {'peak rise MB':>13} {'seconds':>8} {'decoded MB':>11}")
        for way in ways:
            done = subprocess.run(  # noqa: S603 - this Python, our own script
                [sys.executable, "-c", CHILD.format(root=str(ROOT)), way, str(path)],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{row['way']:<10} {row['rise_mb']:>13.0f} {row['seconds']:>8.2f}"
                f" {row['decoded_mb']:>11.1f}"
            )


if __name__ == "__main__":
    main()
