#!/usr/bin/env python3
"""Writes small MAT v5 seed files for fuzz_mat into the folder argv[1]
(argv[2]: optional WIDER ground_truth folder):
synthetic cell/char/int32/uint8/double arrays (plain and zlib-compressed, with small data
elements), plus the smallest compressed variable of each WIDER ground-truth file if found."""
import os
import struct
import sys
import zlib

def pad8(b):
    return b + b"\0" * ((-len(b)) % 8)

def elem(t, data):
    if len(data) <= 4:  # small data element
        return struct.pack("<HH", t, len(data)) + data + b"\0" * (4 - len(data))
    return struct.pack("<II", t, len(data)) + pad8(data)

def matrix(cls, dims, name, payload):
    body = elem(6, struct.pack("<II", cls, 0)) + elem(5, struct.pack("<%di" % len(dims), *dims))
    body += elem(1, name.encode()) + payload
    return struct.pack("<II", 14, len(body)) + body

def char(name, s):
    return matrix(4, [1, len(s)], name, elem(16, s.encode()))

def num(cls, mi, fmt, name, dims, values):
    return matrix(cls, dims, name, elem(mi, struct.pack("<%d%s" % (len(values), fmt), *values)))

def cell(name, dims, items):
    return matrix(1, dims, name, b"".join(items))

def header():
    text = b"MATLAB 5.0 MAT-file, rfcf fuzz seed"
    return text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"

def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    events = cell("event_list", [2, 1], [char("", "0--Parade"), char("", "1--Handshaking")])
    boxes = cell("face_bbx_list", [2, 1], [
        num(12, 5, "i", "", [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]),
        num(12, 5, "i", "", [1, 4], [9, 10, 11, 12])])
    keep = cell("gt_list", [3, 1], [num(6, 2, "B", "", [2, 1], [1, 2]),
                                    num(6, 4, "H", "", [1, 1], [300]),
                                    matrix(6, [0, 0], "", b"")])
    labels = cell("blur_label_list", [1, 1], [num(9, 2, "B", "", [3, 1], [0, 1, 2])])
    empty = struct.pack("<II", 14, 0)
    plain = header() + events + boxes + keep + labels
    with open(os.path.join(out, "plain.mat"), "wb") as f:
        f.write(plain)
    comp = header()
    for v in (events, boxes, keep, labels):
        z = zlib.compress(v)
        comp += struct.pack("<II", 15, len(z)) + z
    with open(os.path.join(out, "compressed.mat"), "wb") as f:
        f.write(comp)
    with open(os.path.join(out, "empty_cell.mat"), "wb") as f:
        f.write(header() + cell("c", [1, 1], [empty]))
    gt = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "widerface", "ground_truth")
    for name in ("wider_face_val.mat", "wider_easy_val.mat"):
        path = os.path.join(gt, name)
        if not os.path.exists(path):
            continue
        data = open(path, "rb").read()
        pos, best = 128, None
        while pos + 8 <= len(data):
            t, n = struct.unpack_from("<II", data, pos)
            if best is None or n < best[1]:
                best = (pos, n)
            pos += 8 + n
        if best:
            with open(os.path.join(out, "real_" + name), "wb") as f:
                f.write(data[:128] + data[best[0]:best[0] + 8 + best[1]])

if __name__ == "__main__":
    main()
