"""Anchor for benchmarks/bench_train_detector.cpp (loader part): torch.utils.data.DataLoader over the
same images with the RetinaFace training augmentation (retinaface.md 8.3) written in numpy/cv2, the way
the PyTorch reference pipeline runs it. Written from the spec, not copied.

Usage: loader_torch.py LABEL_TXT IMAGE_ROOT WORKERS BATCH IMG_DIM [EPOCHS]
LABEL_TXT is a boxes-only label.txt (written by bench_train_detector --write-labels).
Prints "TORCH loader_cpu_ms_per_image X" (process CPU time of this process and its worker processes
per image; 0 workers = in the main process) and "TORCH loader_wall_images_per_s Y"."""
import os
import resource
import sys
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

MEAN = np.array([104, 117, 123], dtype=np.float32)
SCALES = [0.3, 0.45, 0.6, 0.8, 1.0]
INTERPS = [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST, cv2.INTER_LANCZOS4]


def read_labels(path, root):
    items = []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            items.append([os.path.join(root, line[2:]), []])
            continue
        v = [float(t) for t in line.split(" ")]
        x, y, w, h = v[:4]
        lm = v[4:19:3] if len(v) >= 19 else None
        if lm is not None:
            pts = [v[4], v[5], v[7], v[8], v[10], v[11], v[13], v[14], v[16], v[17]]
            label = -1.0 if v[4] < 0 else 1.0
        else:
            pts, label = [-1.0] * 10, -1.0
        items[-1][1].append([x, y, x + w, y + h] + pts + [label])
    return [(p, np.array(f, dtype=np.float32)) for p, f in items if f]


def crop(img, faces, rng, img_dim):
    H, W = img.shape[:2]
    boxes = faces[:, :4]
    for _ in range(250):
        side = int(SCALES[rng.randint(len(SCALES))] * min(W, H))
        left = 0 if side == W else rng.randint(W - side)
        top = 0 if side == H else rng.randint(H - side)
        roi = np.array([left, top, left + side, top + side], dtype=np.float32)
        lt = np.maximum(boxes[:, :2], roi[:2])
        rb = np.minimum(boxes[:, 2:], roi[2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1) * (lt < rb).all(axis=1)
        area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1)
        if not (inter / area >= 1).any():
            continue
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        keep = ((roi[:2] < centers) & (centers < roi[2:])).all(axis=1)
        f = faces[keep].copy()
        if len(f) == 0:
            continue
        f[:, :2] = np.maximum(f[:, :2], roi[:2]) - roi[:2]
        f[:, 2:4] = np.minimum(f[:, 2:4], roi[2:]) - roi[:2]
        lm = f[:, 4:14].reshape(-1, 5, 2) - roi[:2]
        f[:, 4:14] = np.clip(lm, 0, side).reshape(-1, 10)
        bw = (f[:, 2] - f[:, 0] + 1) / side * img_dim
        bh = (f[:, 3] - f[:, 1] + 1) / side * img_dim
        f = f[np.minimum(bw, bh) > 0]
        if len(f) == 0:
            continue
        return img[top:top + side, left:left + side], f, False
    return img, faces, True


def convert(img, alpha=1.0, beta=0.0):
    t = img.astype(np.float32) * alpha + beta
    np.clip(t, 0, 255, out=t)
    img[:] = t  # truncation back to uint8


def distort(img, rng):
    def hsv_part(im):
        hsv = cv2.cvtColor(im, cv2.COLOR_BGR2HSV)
        if rng.randint(2):
            convert(hsv[:, :, 1], alpha=rng.uniform(0.5, 1.5))
        if rng.randint(2):
            h = hsv[:, :, 0].astype(int) + rng.randint(-18, 19)
            hsv[:, :, 0] = h % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    img = img.copy()
    if rng.randint(2):
        if rng.randint(2):
            convert(img, beta=rng.uniform(-32, 32))
        if rng.randint(2):
            convert(img, alpha=rng.uniform(0.5, 1.5))
        img = hsv_part(img)
    else:
        if rng.randint(2):
            convert(img, beta=rng.uniform(-32, 32))
        img = hsv_part(img)
        if rng.randint(2):
            convert(img, alpha=rng.uniform(0.5, 1.5))
    return img


def preproc(img, faces, rng, img_dim):
    img, f, pad = crop(img, faces, rng, img_dim)
    img = distort(img, rng)
    if pad:
        side = max(img.shape[:2])
        canvas = np.empty((side, side, 3), dtype=img.dtype)
        canvas[:] = MEAN.astype(np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img
        img = canvas
    H, W = img.shape[:2]
    if rng.randint(2):
        img = img[:, ::-1]
        f = f.copy()
        f[:, [0, 2]] = W - f[:, [2, 0]]
        lm = f[:, 4:14].reshape(-1, 5, 2)
        lm[:, :, 0] = W - lm[:, :, 0]
        f[:, 4:14] = lm[:, [1, 0, 2, 4, 3]].reshape(-1, 10)
    img = cv2.resize(np.ascontiguousarray(img), (img_dim, img_dim), interpolation=INTERPS[rng.randint(5)])
    img = (img.astype(np.float32) - MEAN).transpose(2, 0, 1)
    f = f.copy()
    f[:, 0:14:2] /= W
    f[:, 1:14:2] /= H
    return img, f


class WiderSet(Dataset):
    def __init__(self, items, img_dim):
        self.items, self.img_dim = items, img_dim

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, faces = self.items[i]
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        rng = np.random.RandomState(i)
        im, f = preproc(img, faces, rng, self.img_dim)
        return torch.from_numpy(np.ascontiguousarray(im)), torch.from_numpy(f)


def collate(batch):
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def cpu_seconds():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main():
    label, root, workers, batch, img_dim = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    epochs = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    items = read_labels(label, root)
    loader = DataLoader(WiderSet(items, img_dim), batch_size=batch, shuffle=True, num_workers=workers,
                        collate_fn=collate, prefetch_factor=4 if workers > 0 else 2,
                        generator=torch.Generator().manual_seed(0))
    n = 0
    c0, t0 = cpu_seconds(), time.perf_counter()
    for _ in range(epochs):
        for images, _targets in loader:  # worker processes end with each epoch: their CPU time is counted
            n += images.shape[0]
    c1, t1 = cpu_seconds(), time.perf_counter()
    print(f"TORCH loader_cpu_ms_per_image {(c1 - c0) * 1e3 / n:.3f}")
    print(f"TORCH loader_wall_images_per_s {n / (t1 - t0):.2f}")


if __name__ == "__main__":
    main()
