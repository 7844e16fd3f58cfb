"""Minimal safetensors reader/writer on numpy (the Debian image has no safetensors package)."""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "U8": np.uint8, "BOOL": np.bool_}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def save(path, tensors, metadata=None):
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    rev = {v: k for k, v in _DTYPES.items()}
    for k in names:
        a = np.ascontiguousarray(tensors[k])
        blob = a.tobytes()
        header[k] = {"dtype": rev[a.dtype.type], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
