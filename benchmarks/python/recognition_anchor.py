"""Anchors for benchmarks/bench_recognition_cpu.cpp: PyTorch eager (and OpenCV DNN on the same
model exported to ONNX) on the same input shapes and thread count.

  cases: mbf_embed/{1,64} (CASIA MobileFaceNet, 112x96), iresnet50_embed/{1,64} (112x112),
         iresnet50_curricular_step/64 (IResNet-50 + CurricularFace head, 10k classes, SGD)
  --mode cpu: 1 thread, median process CPU time; --mode wall: 2 threads, median wall time.
Prints "TORCH <case> <ms>" and "OPENCV <case> <ms>" lines (ms per call)."""
import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures", "recognition"))
from recognition_torch import IResNet, MobileFaceNet  # noqa: E402
from make_margin_fixtures import curricular_head  # noqa: E402  (official CurricularFace formulas)


def median_ms(fn, repeats, iterations, cpu):
    clock = time.process_time if cpu else time.perf_counter
    fn()  # warm-up
    t = []
    for _ in range(repeats):
        c0 = clock()
        for _ in range(iterations):
            fn()
        t.append((clock() - c0) * 1e3 / iterations)
    return float(np.median(t))


def perturb(model):
    """Makes every parameter and statistic distinct: torch.onnx.export deduplicates equal
    initializers into Identity nodes, which OpenCV 4.6 cannot import."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.add_(torch.randn_like(b) * 1e-3)
            elif name.endswith("running_var"):
                b.add_(torch.rand_like(b) * 1e-2)
    return model


def opencv_net(model, x):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        torch.onnx.export(model, x, path, opset_version=11)
        return cv2.dnn.readNetFromONNX(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--scale", type=int, default=1, help="repetitions multiplier")
    ap.add_argument("--only", default="", help="comma-separated case prefixes")
    a = ap.parse_args()
    cpu = a.mode == "cpu"
    threads = 1 if cpu else 2
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    torch.manual_seed(0)
    want = lambda name: not a.only or any(name.startswith(p) for p in a.only.split(","))

    cases = [("mbf_embed", MobileFaceNet, (112, 96), [(1, 20, 3), (64, 2, 3)]),
             ("iresnet50_embed", lambda: IResNet(50), (112, 112), [(1, 4, 3), (64, 1, 2)])]
    for name, make, (h, w), runs in cases:
        if not want(name):
            continue
        model = perturb(make()).eval()
        for batch, iterations, reps in runs:
            x = torch.rand(batch, 3, h, w) * 2 - 1
            with torch.no_grad():
                ms = median_ms(lambda: model(x), reps * a.scale, iterations, cpu)
            print(f"TORCH {name}/{batch} {ms:.3f}", flush=True)
            net = opencv_net(model, x)
            blob = x.numpy()

            def run():
                net.setInput(blob)
                net.forward()
            print(f"OPENCV {name}/{batch} {median_ms(run, reps * a.scale, iterations, cpu):.3f}", flush=True)

    if want("iresnet50_curricular_step"):
        batch, classes = 64, 10000
        model = IResNet(50).train()
        kernel = torch.nn.Parameter(torch.randn(512, classes) * 0.01)  # official layout (d, C), N(0, 0.01^2)
        t = torch.zeros(1)
        opt = torch.optim.SGD(list(model.parameters()) + [kernel], lr=0.1, momentum=0.9, weight_decay=5e-4)
        x = torch.rand(batch, 3, 112, 112) * 2 - 1
        labels = torch.tensor([(i * 7919) % classes for i in range(batch)])

        def step():
            nonlocal t
            opt.zero_grad()
            logits, t, _ = curricular_head(model(x), kernel, labels, t)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            loss.backward()
            opt.step()
        ms = median_ms(step, 2 * a.scale, 1, cpu)
        print(f"TORCH iresnet50_curricular_step/64 {ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
