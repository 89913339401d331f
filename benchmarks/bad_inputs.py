"""Peak memory of a batch whose inputs include decompression-bomb headers.

    python benchmarks/bad_inputs.py

Two ``srapp upscale --model bicubic --scale 2`` batches, each in a fresh process: one tiny image
alone, and the same image next to a PNG of 20000x20000 RGB with complete, valid data (a few MB
of zlib, 1.1 GiB once decoded) and a 69-byte PNG whose header claims 60000x60000. Both bombs must
be refused from their headers; target: the second batch's peak RSS under 100 MiB above the first.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from measure import MIB, run_python
from srapp.io.image_io import write_image

TARGET_MIB = 100

_BATCH_SCRIPT = """
import sys
from measure import MIB, peak_bytes
from srapp.cli import main
code = main(sys.argv[1:])
print(code, peak_bytes() / MIB)
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: Path, side: int, complete: bool = True) -> Path:
    """An 8-bit RGB PNG of ``side`` x ``side`` black pixels: all its rows (compressed a row at a
    time, so writing it stays small), or only 64 bytes of them."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    compressor = zlib.compressobj(9)
    rows = [bytes(1 + 3 * side)] * side if complete else [bytes(64)]  # one row object, repeated
    pieces = [compressor.compress(row) for row in rows] + [compressor.flush()]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", b"".join(pieces)) + _chunk(b"IEND", b""))
    return path


def _batch_peak_mib(folder: Path, out: Path) -> tuple[int, float]:
    output = run_python(_BATCH_SCRIPT, "upscale", str(folder), "-o", str(out), "--model", "bicubic",
                        "--scale", "2", "-q")
    code, peak = output.split()[-2:]
    return int(code), float(peak)


def bomb_header_section() -> list[str]:
    """Peak RSS of a tiny batch and of the same batch with two bomb headers, fresh processes."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tiny, with_bombs = scratch / "tiny", scratch / "bombs"
        tiny.mkdir(), with_bombs.mkdir()
        image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        write_image(tiny / "tiny.png", image)
        write_image(with_bombs / "tiny.png", image)
        big_bytes = write_png_bomb(with_bombs / "bomb_20000.png", 20000).stat().st_size
        small_bytes = write_png_bomb(with_bombs / "bomb_60000.png", 60000, complete=False).stat().st_size
        tiny_code, tiny_peak = _batch_peak_mib(tiny, scratch / "out-tiny")
        bomb_code, bomb_peak = _batch_peak_mib(with_bombs, scratch / "out-bombs")
        written = sorted(p.name for p in (scratch / "out-bombs").iterdir())
    growth = bomb_peak - tiny_peak
    return [
        "Bomb headers in a batch (bicubic x2, fresh processes, peak RSS = VmHWM)",
        f"  tiny 32x32 alone: exit {tiny_code}, peak {tiny_peak:.0f} MiB",
        f"  + 20000x20000 PNG ({big_bytes / MIB:.1f} MiB file, {20000 * 20000 * 3 / MIB:.0f} MiB decoded)"
        f" + 60000x60000 PNG ({small_bytes} bytes): exit {bomb_code}, peak {bomb_peak:.0f} MiB, "
        f"written: {', '.join(written)}",
        f"  growth {growth:+.0f} MiB (target: under {TARGET_MIB} MiB) -> {'met' if growth < TARGET_MIB else 'MISSED'}",
    ]


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print("\n".join(bomb_header_section()))


if __name__ == "__main__":
    main()
