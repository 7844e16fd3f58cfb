"""Independent PyTorch definition of RetinaFace (MobileNet-0.25 and ResNet-50 bodies) written
from shared/specs/retinaface.md, used as the benchmark anchor (PyTorch eager, and OpenCV DNN on
the same model exported to ONNX) and by fixture generators."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(inp, oup, stride=1, slope=0.0, act=True, k=3):
    layers = [nn.Conv2d(inp, oup, k, stride, k // 2, bias=False), nn.BatchNorm2d(oup)]
    if act:
        layers.append(nn.LeakyReLU(negative_slope=slope, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(inp, oup, stride, slope):
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=slope, inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        nn.LeakyReLU(negative_slope=slope, inplace=True))


class MobileNetV1025(nn.Module):
    out_channels = (64, 128, 256)

    def __init__(self, slope=0.1):
        super().__init__()
        self.stage1 = nn.Sequential(conv_bn(3, 8, 2, slope), conv_dw(8, 16, 1, slope), conv_dw(16, 32, 2, slope),
                                    conv_dw(32, 32, 1, slope), conv_dw(32, 64, 2, slope), conv_dw(64, 64, 1, slope))
        self.stage2 = nn.Sequential(conv_dw(64, 128, 2, slope), *[conv_dw(128, 128, 1, slope) for _ in range(5)])
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2, slope), conv_dw(256, 256, 1, slope))

    def forward(self, x):
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return c1, c2, self.stage3(c2)


class FPN(nn.Module):
    def __init__(self, in_channels, out, slope):
        super().__init__()
        self.output1 = conv_bn(in_channels[0], out, 1, slope, k=1)
        self.output2 = conv_bn(in_channels[1], out, 1, slope, k=1)
        self.output3 = conv_bn(in_channels[2], out, 1, slope, k=1)
        self.merge1 = conv_bn(out, out, 1, slope)
        self.merge2 = conv_bn(out, out, 1, slope)

    def forward(self, feats):
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return o1, o2, o3


class SSH(nn.Module):
    def __init__(self, inp, out, slope):
        super().__init__()
        self.conv3X3 = conv_bn(inp, out // 2, 1, act=False)
        self.conv5X5_1 = conv_bn(inp, out // 4, 1, slope)
        self.conv5X5_2 = conv_bn(out // 4, out // 4, 1, act=False)
        self.conv7X7_2 = conv_bn(out // 4, out // 4, 1, slope)
        self.conv7x7_3 = conv_bn(out // 4, out // 4, 1, act=False)

    def forward(self, x):
        a = self.conv3X3(x)
        b1 = self.conv5X5_1(x)
        return F.relu(torch.cat([a, self.conv5X5_2(b1), self.conv7x7_3(self.conv7X7_2(b1))], 1))


class Head(nn.Module):
    def __init__(self, inp, k, anchors=2):
        super().__init__()
        self.k = k
        self.conv1x1 = nn.Conv2d(inp, anchors * k, 1)

    def forward(self, x):
        y = self.conv1x1(x).permute(0, 2, 3, 1).contiguous()
        return y.view(y.shape[0], -1, self.k)


class RetinaFace(nn.Module):
    def __init__(self, slope=0.1, out=64, softmax=True):
        super().__init__()
        self.body = MobileNetV1025(slope)
        self.fpn = FPN(MobileNetV1025.out_channels, out, slope)
        self.ssh1, self.ssh2, self.ssh3 = SSH(out, out, slope), SSH(out, out, slope), SSH(out, out, slope)
        self.ClassHead = nn.ModuleList([Head(out, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([Head(out, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([Head(out, 10) for _ in range(3)])
        self.softmax = softmax

    def forward(self, x):
        feats = self.fpn(self.body(x))
        s = [self.ssh1(feats[0]), self.ssh2(feats[1]), self.ssh3(feats[2])]
        loc = torch.cat([h(f) for h, f in zip(self.BboxHead, s)], 1)
        conf = torch.cat([h(f) for h, f in zip(self.ClassHead, s)], 1)
        landms = torch.cat([h(f) for h, f in zip(self.LandmarkHead, s)], 1)
        if self.softmax:
            conf = F.softmax(conf, dim=-1)
        return loc, conf, landms


def load_mnet025(path, softmax=True):
    net = RetinaFace(softmax=softmax)
    sd = torch.load(path, map_location="cpu")
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
    net.load_state_dict(sd, strict=True)
    return net.eval()
