#!/usr/bin/env python3
"""PyTorch anchor of bench_cuda_models.cu: the same networks (benchmarks/python), shapes
and names, printed as "RESULT <name> <median ms>". Eager mode, plus RetinaFace batch 1 replayed
as a CUDA graph (torch.cuda.CUDAGraph, rows *_graph). fp32 without TF32, cudnn.benchmark off,
like rfcf's defaults. Usage: [--quick]"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from recognition_torch import IResNet  # noqa: E402
from retinaface_torch import RetinaFace  # noqa: E402

ITERS = 3 if "--quick" in sys.argv else 10


def median_ms(fn, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(ITERS):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def graph_ms(net, x):
    """Median ms of replaying net(x) as a CUDA graph: warm-up on a side stream, then capture."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            net(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = net(static_x)  # noqa: F841 (the graph's static outputs)
    return median_ms(graph.replay)


def report(name, ms):
    print(f"RESULT {name} {ms:.4f}", flush=True)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    print(f"# torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")
    net = RetinaFace(slope=0.1, out=64, softmax=False).cuda().eval()
    with torch.no_grad():
        for batch in (1, 64):
            x = torch.rand(batch, 3, 480, 640, device="cuda") * 2 - 1
            report(f"retinaface_mnet025_640x480_b{batch}_fwd", median_ms(lambda: net(x)))
            if batch == 1:
                report("retinaface_mnet025_640x480_b1_fwd_graph", graph_ms(net, x))
    net = None  # free its memory before the recognition benchmark
    torch.cuda.empty_cache()

    rec = IResNet(depth=50, emb=512).cuda().train()
    x = torch.rand(256, 3, 112, 112, device="cuda") * 2 - 1
    dy = torch.rand(256, 512, device="cuda") * 2 - 1

    def step():
        y = rec(x)
        y.backward(dy)

    report("iresnet50_112_b256_fwd_bwd", median_ms(step, warmup=2))

    # bf16 autocast (fp32 master weights) in PyTorch's fast layout, channels_last.
    rec = rec.to(memory_format=torch.channels_last)
    xcl = x.contiguous(memory_format=torch.channels_last)

    def step_bf16():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = rec(xcl)
        y.float().backward(dy)

    ms = median_ms(step_bf16, warmup=2)
    report("iresnet50_112_b256_fwd_bwd_bf16", ms)
    flop = 3 * 2 * 6.3e9 * 256  # fwd + bwd, 2 FLOPs per multiply-add, ~6.3e9 MACs per image
    print(f"# iresnet50 bf16: {flop / (ms * 1e-3) / 1e12:.1f} TFLOP/s (dense bf16 peak of an H100/H200 SXM: 989)")
    print(f"# peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
