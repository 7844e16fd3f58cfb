#!/usr/bin/python3
"""PyTorch CPU anchor for benchmarks/bench_ops_cpu.cpp: the same conv shapes on 2 threads.
Prints one JSON object {name: median milliseconds}. Run with /usr/bin/python3 (Debian torch).
Usage: torch_ops_cpu.py [repeats=30] [threads=2] [wall|cpu]"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# name, (N, Cin, H, W), (Cout, Cin/groups, kh, kw), stride, padding, groups: as in bench_ops_cpu.cpp
SHAPES = [
    ("conv3x3_64x64_160", (1, 64, 160, 160), (64, 64, 3, 3), 1, 1, 1),
    ("conv1x1_128x256_40", (1, 128, 40, 40), (256, 128, 1, 1), 1, 0, 1),
    ("dwconv3x3_256_40", (1, 256, 40, 40), (256, 1, 3, 3), 1, 1, 256),
]


def median_ms(fn, repeats, clock, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    # wall time by default; "cpu" measures process CPU time (useful on a busy machine, 1 thread)
    clock = time.process_time if len(sys.argv) > 3 and sys.argv[3] == "cpu" else time.perf_counter
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {}
    with torch.no_grad():
        for name, xs, ws, stride, pad, groups in SHAPES:
            x, w = torch.randn(xs), torch.randn(ws)
            y = F.conv2d(x, w, None, stride, pad, 1, groups)
            dy = torch.randn(y.shape)
            out[name + "/forward"] = median_ms(lambda: F.conv2d(x, w, None, stride, pad, 1, groups), repeats, clock)
            # backward = data + weight gradients, without the forward
            bwd = lambda: torch.ops.aten.convolution_backward(
                dy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], groups, [True, True, False])
            out[name + "/backward"] = median_ms(bwd, repeats, clock)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
