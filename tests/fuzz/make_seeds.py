#!/usr/bin/python3
"""Writes tiny seed inputs for the image fuzzer (progressive/grey JPEG, 16-bit/grey/alpha PNG)."""
import pathlib

import cv2
import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "corpus_image"
rng = np.random.default_rng(1)
img = rng.integers(0, 256, size=(16, 12, 3), dtype=np.uint8)
cv2.imwrite(str(OUT / "progressive.jpg"), img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 70])
cv2.imwrite(str(OUT / "grey.jpg"), img[:, :, 0])
cv2.imwrite(str(OUT / "rst.jpg"), img, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
cv2.imwrite(str(OUT / "grey.png"), img[:, :, 0])
cv2.imwrite(str(OUT / "deep.png"), img.astype(np.uint16) * 257)
cv2.imwrite(str(OUT / "alpha.png"), np.dstack([img, img[:, :, :1]]))

# RecordIO seeds: first byte = length of the .idx text, then the .idx text, then the .rec.
import struct  # noqa: E402

REC = pathlib.Path(__file__).resolve().parent / "corpus_recordio"
REC.mkdir(exist_ok=True)
MAGIC = struct.pack("<I", 0xCED7230A)


def rec(cflag, payload):
    return MAGIC + struct.pack("<I", (cflag << 29) | len(payload)) + payload + b"\0" * ((-len(payload)) % 4)


def ir(labels, image=b""):
    return struct.pack("<IfQQ", len(labels), 0.0, 0, 0) + b"".join(struct.pack("<f", x) for x in labels) + image


records = [rec(0, ir([3.0, 5.0])), rec(0, ir([0.0, 0.0], b"\xff\xd8\xff")),
           rec(1, ir([0.0, 0.0])[:24]) + rec(3, b"\x01\x02"), rec(0, ir([1.0, 3.0])), rec(0, ir([3.0, 3.0]))]
body, idx = b"", ""
for k, r in enumerate(records):
    idx += f"{k}\t{len(body)}\n"
    body += r
(REC / "insightface.bin").write_bytes(bytes([len(idx)]) + idx.encode() + body)
flat = rec(0, struct.pack("<IfQQ", 0, 7.0, 0, 0) + b"abc") + rec(1, b"") + rec(2, b"") + rec(3, b"x")
(REC / "flat_noidx.bin").write_bytes(bytes([0]) + flat)
