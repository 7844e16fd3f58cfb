#!/usr/bin/python3
"""Checks a safetensors file written by rfcf (the test "safetensors file for the Python
cross-check" with RFCF_SAFETENSORS_EXPORT=/path/file.safetensors) with Python's safetensors
library and with an independent numpy parser. Run manually:
  RFCF_SAFETENSORS_EXPORT=/tmp/x.safetensors ./build/tests/rfcf_tests_io "safetensors file for the Python cross-check"
  /usr/bin/python3 tests/io/check_rfcf_safetensors.py /tmp/x.safetensors"""
import json
import struct
import sys

import numpy as np

path = sys.argv[1]
expected = {
    "f32": (np.float32, [2, 3], [0.5, -1, 2, 3.25, 1e-3, 7]),
    "f64": (np.float64, [3], [0.1, -2.5, 1e100]),
    "i64": (np.int64, [], [146290]),
    "i32": (np.int32, [2, 1], [-7, 9]),
    "u8": (np.uint8, [3], [0, 128, 255]),
    "bool": (np.bool_, [2], [True, False]),
    "empty": (np.float32, [0, 4], []),
    "f16": (np.float16, [2], [1, -2]),
}


def check(name, arr):
    dt, shape, values = expected[name]
    assert arr.dtype == dt, (name, arr.dtype)
    assert list(arr.shape) == shape, (name, arr.shape)
    assert np.array_equal(arr.reshape(-1), np.array(values, dtype=dt)), (name, arr)


# 1. Independent parser.
raw = open(path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert (8 + n) % 8 == 0, "header not padded to 8"
header = json.loads(raw[8:8 + n])
assert header["__metadata__"] == {"writer": "rfcf", "purpose": "python cross-check"}
names = [k for k in header if k != "__metadata__"]
assert names == sorted(names), "keys not sorted"
np_dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8,
             "BOOL": np.bool_, "F16": np.float16}
buf = raw[8 + n:]
pos = 0
for k in names:
    e = header[k]
    b, end = e["data_offsets"]
    assert b == pos, "not packed back to back"
    pos = end
    if e["dtype"] == "BF16":
        bits = np.frombuffer(buf[b:end], dtype="<u2").astype("<u4") << 16
        assert list(bits.view("<f4")) == [1.0, -3.0]
        continue
    check(k, np.frombuffer(buf[b:end], dtype=np.dtype(np_dtypes[e["dtype"]]).newbyteorder("<")).reshape(e["shape"]))
assert pos == len(buf)
print("independent parser: OK,", len(names), "tensors")

# 2. The reference library (pip install safetensors).
try:
    from safetensors import safe_open
except ImportError:
    print("safetensors not installed: reference check skipped")
    sys.exit(0)
with safe_open(path, framework="np") as f:  # numpy has no bfloat16
    loaded = [k for k in f.keys() if k != "bf16"]
    for k in loaded:
        check(k, f.get_tensor(k))
with safe_open(path, framework="pt") as f:
    assert f.metadata() == {"writer": "rfcf", "purpose": "python cross-check"}
    bf = f.get_tensor("bf16")
    assert str(bf.dtype) == "torch.bfloat16" and bf.float().tolist() == [1.0, -3.0]
print("safetensors", __import__("safetensors").__version__, "safe_open(np) + safe_open(pt): OK,", len(loaded), "tensors")
