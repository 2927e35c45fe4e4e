"""PyTorch side of `make bench`: the same architectures, batch sizes and thread counts as our
benchmarks, timed the same way (steady-state steps after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_bench.py --model lenet300 --threads 1
Prints one CSV line per measurement: model,mode,threads,batch,images_per_s,images_per_cpu_s.
Never required by the project; `make bench` runs it only when torch is importable."""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet5(nn.Module):
    def __init__(self, widths=(6, 16), hidden=(120, 84)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 5, padding=2)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 5)
        self.fc1 = nn.Linear(widths[1] * 5 * 5, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


class ConvNet(nn.Module):
    """Conv-2/4/6 of the lottery-ticket paper (batch_norm=False) and the small VGG (batch_norm=True):
    3x3 convs (padding 1) + ReLU, a 2x2 max pool after every pair, then a ReLU MLP."""

    def __init__(self, widths, hidden, batch_norm):
        super().__init__()
        layers, c, side = [], 1, 28
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(c, w, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU(inplace=True))
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            c = w
        self.features = nn.Sequential(*layers)
        mlp, flat = [], c * side * side
        for h in hidden:
            mlp += [nn.Linear(flat, h), nn.ReLU(inplace=True)]
            flat = h
        mlp.append(nn.Linear(flat, 10))
        self.classifier = nn.Sequential(*mlp)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, mid, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """CIFAR-style ResNet (He et al. 2016, section 4.2) for 28x28 inputs, 1x1-conv shortcuts."""

    def __init__(self, widths=(16, 32, 64), blocks=3, inner=None):
        super().__init__()
        inner = inner or [w for w in widths for _ in range(blocks)]
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c = widths[0]
        for s in range(3):
            layer = []
            for b in range(blocks):
                layer.append(BasicBlock(c, inner[s * blocks + b], widths[s], 2 if s > 0 and b == 0 else 1))
                c = widths[s]
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# The same names as our model registry (nn/models.cpp), default widths.
MODELS = {
    "lenet300": LeNet300,
    "lenet5": LeNet5,
    "conv2": lambda: ConvNet([64, 64], [256, 256], False),
    "conv4": lambda: ConvNet([64, 64, 128, 128], [256, 256], False),
    "conv6": lambda: ConvNet([64, 64, 128, 128, 256, 256], [256, 256], False),
    "vgg": lambda: ConvNet([32, 32, 64, 64, 128, 128], [256], True),
    "resnet20": ResNet,
}


def bench_train(model, batch, seconds):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return timed(step, batch, seconds)


def bench_infer(model, batch, seconds):
    x = torch.randn(batch, 1, 28, 28)
    model.eval()

    def step():
        with torch.no_grad():
            model(x)

    return timed(step, batch, seconds)


def timed(step, batch, seconds):
    """Steady-state throughput after warm-up: (items per wall second, items per CPU second of the
    process). The second is robust to other programs sharing the cores (single-threaded runs)."""
    for _ in range(20):
        step()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt > seconds and n >= 10:
            return n * batch / dt, n * batch / max(time.process_time() - c0, 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet300", choices=sorted(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = MODELS[a.model]()
    fn = bench_train if a.mode == "train" else bench_infer
    wall, cpu = fn(model, a.batch, a.seconds)
    print(f"{a.model},{a.mode},{a.threads},{a.batch},{wall:.1f},{cpu:.1f}")


if __name__ == "__main__":
    main()
