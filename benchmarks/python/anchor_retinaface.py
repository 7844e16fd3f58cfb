"""Benchmark anchors for RetinaFace-MobileNet0.25 on the CPU: PyTorch eager and OpenCV DNN
(ONNX export of the same model), same inputs and thread count. Prints JSON (milliseconds)."""
import argparse
import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retinaface_torch import load_mnet025  # noqa: E402


def median_ms(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sizes", default="640x480,1024x768,1600x898")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    net = load_mnet025(args.weights)
    results = {}
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        x = torch.randn(1, 3, h, w) * 50
        with torch.no_grad():
            results[f"torch_forward_{size}"] = median_ms(lambda: net(x), 2, args.repeats)
            if size == "640x480":
                results[f"torch_backbone_{size}"] = median_ms(lambda: net.body(x), 2, args.repeats)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "retinaface.onnx")
            torch.onnx.export(net, x, path, opset_version=11, input_names=["input"])
            dnn = cv2.dnn.readNetFromONNX(path)
            blob = x.numpy()

            def run():
                dnn.setInput(blob)
                return dnn.forward(dnn.getUnconnectedOutLayersNames())
            results[f"opencv_forward_{size}"] = median_ms(run, 2, args.repeats)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
