"""Anchor for benchmarks/bench_train_detector.cpp (step part): one PyTorch training step of
RetinaFace-MobileNet0.25 (retinaface_torch.py, train mode) at batch B: forward + MultiBoxLoss with
hard negative mining (matching per image, as the reference) + backward + SGD (lr 1e-3, momentum 0.9,
wd 5e-4). Same synthetic input and faces as the C++ side.

Usage: train_step_torch.py SHARED BATCH IMG_DIM STEPS THREADS
Prints "TORCH step_cpu_ms_per_image X" (median process CPU time) and "TORCH step_wall_images_per_s Y"."""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from retinaface_torch import load_mnet025  # noqa: E402

V0, V1, THRESH, NEGPOS, LOC_W = 0.1, 0.2, 0.35, 7, 2.0


def priors(dim):
    rows = []
    for s, mins in zip([8, 16, 32], [[16, 32], [64, 128], [256, 512]]):
        f = -(-dim // s)
        for i in range(f):
            for j in range(f):
                for m in mins:
                    rows.append([(j + 0.5) * s / dim, (i + 0.5) * s / dim, m / dim, m / dim])
    return torch.tensor(rows, dtype=torch.float32)


def synthetic(B, D):
    i = np.arange(B * 3 * D * D, dtype=np.float64)
    x = torch.from_numpy((100.0 * np.sin(0.0007 * i)).astype(np.float32).reshape(B, 3, D, D))
    targets = []
    for b in range(B):
        rows = []
        for k in range(3):
            s, x1, y1 = 0.05 + 0.1 * k + 0.01 * b, 0.1 + 0.25 * k, 0.15 + 0.03 * b
            row = [x1, y1, x1 + s, y1 + 1.2 * s]
            for lm in range(5):
                row += [x1 + s * (0.2 + 0.15 * lm), y1 + s * (0.4 + 0.1 * lm)]
            rows.append(row + [1.0])
        targets.append(torch.tensor(rows, dtype=torch.float32))
    return x, targets


def point_form(p):
    return torch.cat([p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2], 1)


def iou(a, b):
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    return inter / (area_a + area_b - inter)


def match(truth, pri):
    boxes, landms, labels = truth[:, :4], truth[:, 4:14], truth[:, 14]
    ov = iou(boxes, point_form(pri))
    bp_ov, bp_idx = ov.max(1)
    valid = bp_ov >= 0.2
    bt_ov, bt_idx = ov.max(0)
    bt_ov[bp_idx[valid]] = 2.0
    for g in range(boxes.shape[0]):
        bt_idx[bp_idx[g]] = g
    m = boxes[bt_idx]
    conf = labels[bt_idx].long()
    conf[bt_ov < THRESH] = 0
    loc = torch.cat([((m[:, :2] + m[:, 2:]) / 2 - pri[:, :2]) / (V0 * pri[:, 2:]),
                     torch.log((m[:, 2:] - m[:, :2]) / pri[:, 2:]) / V1], 1)
    lm = landms[bt_idx].view(-1, 5, 2)
    landm = ((lm - pri[:, None, :2]) / (V0 * pri[:, None, 2:])).view(-1, 10)
    return loc, landm, conf


def multibox(loc_p, conf_p, landm_p, targets, pri):
    mt = [match(t, pri) for t in targets]
    loc_t, landm_t, conf_t = (torch.stack([m[k] for m in mt]) for k in range(3))
    pos1 = conf_t > 0
    loss_landm = F.smooth_l1_loss(landm_p[pos1], landm_t[pos1], reduction="sum") / max(int(pos1.sum()), 1)
    pos = conf_t != 0
    conf_t[pos] = 1
    N = max(int(pos.sum()), 1)
    loss_loc = F.smooth_l1_loss(loc_p[pos], loc_t[pos], reduction="sum") / N
    with torch.no_grad():
        flat = conf_p.view(-1, 2)
        mining = (torch.logsumexp(flat, 1) - flat.gather(1, conf_t.view(-1, 1)).squeeze(1)).view(conf_t.shape)
        mining[pos] = 0
        _, order = mining.sort(1, descending=True)
        _, rank = order.sort(1)
        num_neg = torch.clamp(NEGPOS * pos.long().sum(1, keepdim=True), max=pos.shape[1] - 1)
        neg = rank < num_neg
    sel = pos | neg
    loss_conf = F.cross_entropy(conf_p[sel], conf_t[sel], reduction="sum") / N
    return LOC_W * loss_loc + loss_conf + loss_landm


def main():
    shared, B, D, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    net = load_mnet025(os.path.join(shared, "models/retinaface_mnet025.pth"), softmax=False)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    x, targets = synthetic(B, D)
    pri = priors(D)

    def step():
        opt.zero_grad()
        loc, conf, landms = net(x)
        loss = multibox(loc, conf, landms, targets, pri)
        loss.backward()
        opt.step()
        return loss.item()

    print("first loss", step())
    cpu_ms = []
    w0 = time.perf_counter()
    for _ in range(steps):
        c0 = time.process_time()
        step()
        cpu_ms.append((time.process_time() - c0) * 1e3 / B)
    wall = time.perf_counter() - w0
    print(f"TORCH step_cpu_ms_per_image {float(np.median(cpu_ms)):.3f}")
    print(f"TORCH step_wall_images_per_s {steps * B / wall:.3f}")


if __name__ == "__main__":
    main()
