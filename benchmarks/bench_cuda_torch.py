#!/usr/bin/env python3
"""PyTorch anchor of bench_cuda_ops.cu: the same ops and shapes, printed as
"RESULT <name> <median ms>". fp32 without TF32, like rfcf's default. Usage: [--quick]"""
import sys

import torch
import torch.nn.functional as F

ITERS = 5 if "--quick" in sys.argv else 20


def median_ms(fn):
    for _ in range(3):
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


def report(name, ms):
    print(f"RESULT {name} {ms:.4f}", flush=True)


def bench_conv(suffix):
    dev = "cuda"
    x = torch.rand(32, 64, 160, 160, device=dev) * 2 - 1
    w = torch.rand(64, 64, 3, 3, device=dev) * 2 - 1
    dy = torch.rand(32, 64, 160, 160, device=dev) * 2 - 1
    args = dict(bias_sizes=None, stride=[1, 1], padding=[1, 1], dilation=[1, 1], transposed=False,
                output_padding=[0, 0], groups=1)

    def bwd(mask):
        return torch.ops.aten.convolution_backward(dy, x, w, args["bias_sizes"], args["stride"], args["padding"],
                                                   args["dilation"], args["transposed"], args["output_padding"],
                                                   args["groups"], mask)

    p = "conv3x3_64x64_160_b32" + suffix
    f = median_ms(lambda: F.conv2d(x, w, padding=1))
    bd = median_ms(lambda: bwd([True, False, False]))
    bw = median_ms(lambda: bwd([False, True, False]))
    report(p + "_fwd", f)
    report(p + "_bwd_data", bd)
    report(p + "_bwd_weight", bw)
    report(p + "_fwd_bwd", f + bd + bw)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"# torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")
    with torch.no_grad():
        torch.backends.cudnn.benchmark = False
        bench_conv("")
        torch.backends.cudnn.benchmark = True
        bench_conv("_find")
        torch.backends.cudnn.benchmark = False

        n = 4096
        a, b = torch.rand(n, n, device="cuda"), torch.rand(n, n, device="cuda")
        report("gemm_4096_fp32", median_ms(lambda: a @ b))

        x = torch.rand(32, 64, 160, 160, device="cuda") * 2 - 1
        y = torch.rand(32, 64, 160, 160, device="cuda") * 2 - 1
        report("leaky_relu_fwd_32x64x160x160", median_ms(lambda: F.leaky_relu(x, 0.1)))
        report("leaky_relu_bwd_32x64x160x160",
               median_ms(lambda: torch.ops.aten.leaky_relu_backward(y, x, 0.1, False)))
        report("add_32x64x160x160", median_ms(lambda: x + y))
        report("concat_2x_32x64x160x160", median_ms(lambda: torch.cat([x, y], 1)))


if __name__ == "__main__":
    main()
