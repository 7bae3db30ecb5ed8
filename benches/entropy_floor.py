#!/usr/bin/env python3
"""How small can a repository of the mkdataset.py tree be? A lower bound, per part.

  benches/entropy_floor.py DATA_DIR [--tza-bytes N]

mkdataset.py draws its tensors independently from a normal distribution (numpy's
`standard_normal`), so no coder can store them below the empirical entropy of their values:
fp16 weights are measured as 16-bit symbols, the float32 vector store as its high 16 bits
(sign, exponent, top mantissa bits) plus 16 bits of uniformly random low mantissa. The random
database pages (`rng.integers(0, 256)`) are incompressible. For everything else (text pages,
JSON, configs, sources), `zstd -19 --long` stands in: an upper estimate of their entropy, so the
total is a slight overestimate of the floor. Prints each part and the total; with --tza-bytes,
the floor as a fraction of the tar|zstd|age archive of the same tree (compare.py's "tza").
Needs numpy and the zstd command.
"""
import argparse, json, os, subprocess
import numpy as np


def entropy_bits(symbols, alphabet):
    counts = np.bincount(symbols, minlength=alphabet).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def zstd19(data):
    return len(subprocess.run(["zstd", "-19", "--long", "-q", "-c"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--tza-bytes", type=int)
    a = ap.parse_args()
    parts = {"fp16 tensors": 0.0, "float32 vectors": 0.0, "random pages": 0.0, "the rest": 0.0}
    rest = bytearray()
    for root, _, files in os.walk(a.data):
        for name in sorted(files):
            path = os.path.join(root, name)
            raw = open(path, "rb").read()
            if name.endswith(".safetensors"):
                n = int.from_bytes(raw[:8], "little")
                header, body = raw[:8 + n], raw[8 + n:]
                v = np.frombuffer(body[: len(body) // 2 * 2], dtype=np.uint16)
                parts["fp16 tensors"] += len(v) * entropy_bits(v, 65536) / 8
                rest += header
            elif name == "segment-0.bin":
                v = np.frombuffer(raw[: len(raw) // 4 * 4], dtype=np.uint32)
                hi = (v >> 16).astype(np.int64)
                parts["float32 vectors"] += len(v) * (entropy_bits(hi, 65536) + 16) / 8
            elif "/pgdata/" in path:
                for off in range(0, len(raw), 8192):
                    page = raw[off:off + 8192]
                    # mkdataset.py: odd pages are uniform random bytes, even pages text.
                    if (off // 8192) % 2:
                        parts["random pages"] += len(page)
                    else:
                        rest += page
            else:
                rest += raw
    parts["the rest"] = zstd19(bytes(rest))
    total = sum(parts.values())
    for k, v in parts.items():
        print(f"{k:16s} {v / 1e6:10.1f} MB")
    print(f"{'floor':16s} {total / 1e6:10.1f} MB")
    if a.tza_bytes:
        print(f"floor / tza      {total / a.tza_bytes:10.3f}x")


if __name__ == "__main__":
    main()
