"""CPU-time anchors for benchmarks/cpu_time_models.cpp: PyTorch eager and OpenCV DNN (the same
RetinaFace exported to ONNX) on one thread, same inputs, median process CPU time in ms."""
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retinaface_torch import load_mnet025  # noqa: E402


def median_cpu_ms(fn, repeats):
    fn()
    t = []
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        t.append((time.process_time() - c0) * 1e3)
    return float(np.median(t))


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    net = load_mnet025(os.path.join(shared, "models/retinaface_mnet025.pth"))
    for w, h in [(640, 480), (1024, 768), (1600, 898)]:
        x = torch.rand(1, 3, h, w) * 200 - 100
        with torch.no_grad():
            print(f"TORCH forward_{w}x{h} {median_cpu_ms(lambda: net(x), repeats):.3f}")
            if w == 640:
                print(f"TORCH backbone_640x480 {median_cpu_ms(lambda: net.body(x), repeats):.3f}")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.onnx")
            torch.onnx.export(net, x, path, opset_version=11)
            dnn = cv2.dnn.readNetFromONNX(path)
            blob = x.numpy()

            def run():
                dnn.setInput(blob)
                dnn.forward(dnn.getUnconnectedOutLayersNames())
            print(f"OPENCV forward_{w}x{h} {median_cpu_ms(run, repeats):.3f}")


if __name__ == "__main__":
    main()
