"""Independent PyTorch definitions of IResNet (arcface_torch names), the CASIA MobileFaceNet layout,
IR / IR-SE (CurricularFace names) and arcface_torch "mbf", written from shared/specs/recognition.md;
benchmark anchors and fixture generators."""
import torch
import torch.nn as nn


class IBasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inp, eps=1e-5)
        self.conv1 = nn.Conv2d(inp, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes, eps=1e-5))

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 14, 3], 100: [3, 13, 30, 3]}

    def __init__(self, depth=50, emb=512, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        inp = 64
        for s, (w, n) in enumerate(zip([64, 128, 256, 512], self.BLOCKS[depth])):
            blocks = []
            for b in range(n):
                blocks.append(IBasicBlock(inp, w, 2 if b == 0 else 1))
                inp = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * 7 * 7, emb)
        self.features = nn.BatchNorm1d(emb, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn2(x))
        return self.features(self.fc(torch.flatten(x, 1)))


class ConvBlock(nn.Module):
    def __init__(self, inp, out, k, s, p, groups=1, linear=False):
        super().__init__()
        self.conv = nn.Conv2d(inp, out, k, s, p, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out)
        self.linear = linear
        if not linear:
            self.prelu = nn.PReLU(out)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class Bottleneck(nn.Module):
    def __init__(self, inp, out, stride, t):
        super().__init__()
        self.connect = stride == 1 and inp == out
        w = inp * t
        self.conv = nn.Sequential(
            nn.Conv2d(inp, w, 1, 1, 0, bias=False), nn.BatchNorm2d(w), nn.PReLU(w),
            nn.Conv2d(w, w, 3, stride, 1, groups=w, bias=False), nn.BatchNorm2d(w), nn.PReLU(w),
            nn.Conv2d(w, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        return x + self.conv(x) if self.connect else self.conv(x)


class MobileFaceNet(nn.Module):
    SETTING = [(2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)]

    def __init__(self, emb=128, input_hw=(112, 96)):
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, groups=64)
        blocks, inp = [], 64
        for t, c, n, s in self.SETTING:
            for i in range(n):
                blocks.append(Bottleneck(inp, c, s if i == 0 else 1, t))
                inp = c
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        kh, kw = (input_hw[0] + 15) // 16, (input_hw[1] + 15) // 16
        self.linear7 = ConvBlock(512, 512, (kh, kw), 1, 0, groups=512, linear=True)
        self.linear1 = ConvBlock(512, emb, 1, 1, 0, linear=True)

    def forward(self, x):
        x = self.linear1(self.linear7(self.conv2(self.blocks(self.dw_conv1(self.conv1(x))))))
        return x.view(x.size(0), -1)


# ---------------------------------------------------------------- IR / IR-SE (recognition.md 6.2)

class SEModule(nn.Module):
    def __init__(self, c, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // reduction, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(c // reduction, c, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class IRUnit(nn.Module):
    def __init__(self, inp, depth, stride, se):
        super().__init__()
        if inp == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(inp, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        res = [nn.BatchNorm2d(inp), nn.Conv2d(inp, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
               nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if se:
            res.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*res)

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class IRNet(nn.Module):
    BLOCKS = {50: [3, 4, 14, 3], 100: [3, 13, 30, 3], 152: [3, 8, 36, 3]}

    def __init__(self, depth=50, se=False, emb=512, dropout=0.4, input_hw=(112, 112)):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units, inp = [], 64
        for d, n in zip([64, 128, 256, 512], self.BLOCKS[depth]):
            for b in range(n):
                units.append(IRUnit(inp, d, 2 if b == 0 else 1, se))
                inp = d
        self.body = nn.Sequential(*units)
        h, w = input_hw
        for _ in range(4):
            h, w = (h + 1) // 2, (w + 1) // 2
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
                                          nn.Linear(512 * h * w, emb), nn.BatchNorm1d(emb, affine=False))

    def forward(self, x):
        conv = self.body(self.input_layer(x))
        return self.output_layer(conv), torch.flatten(conv, 1)


# ---------------------------------------------------------------- arcface_torch "mbf" (recognition.md 6.3)

class Wrapped(nn.Module):
    """A block whose children live under `.layers` (the arcface_torch naming)."""

    def __init__(self, *mods):
        super().__init__()
        self.layers = nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x)


def mbf_conv(inp, out, k=1, s=1, p=0, g=1):
    return Wrapped(nn.Conv2d(inp, out, k, s, p, groups=g, bias=False), nn.BatchNorm2d(out), nn.PReLU(out))


def mbf_linear(inp, out, k=1, s=1, p=0, g=1):
    return Wrapped(nn.Conv2d(inp, out, k, s, p, groups=g, bias=False), nn.BatchNorm2d(out))


class MbfDepthWise(nn.Module):
    def __init__(self, inp, out, width, stride, residual):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(mbf_conv(inp, width), mbf_conv(width, width, 3, stride, 1, width),
                                    mbf_linear(width, out))

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


def mbf_stack(c, width, n):
    return Wrapped(*[MbfDepthWise(c, c, width, 1, True) for _ in range(n)])


class MobileFaceNetInsightface(nn.Module):
    def __init__(self, blocks=(1, 4, 6, 2), scale=2, emb=512, input_hw=(112, 112)):
        super().__init__()
        assert blocks[0] == 1
        c1, c2 = 64 * scale, 128 * scale
        self.layers = nn.ModuleList([
            mbf_conv(3, c1, 3, 2, 1), mbf_conv(c1, c1, 3, 1, 1, 64),
            MbfDepthWise(c1, c1, 128, 2, False), mbf_stack(c1, 128, blocks[1]),
            MbfDepthWise(c1, c2, 256, 2, False), mbf_stack(c2, 256, blocks[2]),
            MbfDepthWise(c2, c2, 512, 2, False), mbf_stack(c2, 256, blocks[3])])
        self.conv_sep = mbf_conv(c2, 512)
        kh, kw = (input_hw[0] + 15) // 16, (input_hw[1] + 15) // 16
        self.features = Wrapped(mbf_linear(512, 512, (kh, kw), 1, 0, 512), nn.Flatten(),
                                nn.Linear(512, emb, bias=False), nn.BatchNorm1d(emb))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))
