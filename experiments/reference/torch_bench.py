"""PyTorch side of `make bench`: the same architectures, batch sizes and thread counts as our
benchmarks, timed the same way (steady-state steps after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_bench.py --model lenet300 --threads 1
Prints one CSV line per measurement: model,mode,threads,batch,images_per_s.
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


MODELS = {"lenet300": LeNet300}


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
    for _ in range(20):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt > seconds and n >= 10:
            return n * batch / dt


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
    print(f"{a.model},{a.mode},{a.threads},{a.batch},{fn(model, a.batch, a.seconds):.1f}")


if __name__ == "__main__":
    main()
