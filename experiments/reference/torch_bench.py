"""PyTorch side of `make bench`: the same architectures, batch sizes and thread counts as our
benchmarks, timed the same way (steady-state steps after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_bench.py --model lenet300 --threads 1
    /usr/bin/python3 experiments/reference/torch_bench.py --model bert --batch 32 --seq 64 --vocab 8000
Prints one CSV line per measurement: model,mode,threads,batch,items_per_s,items_per_cpu_s (images, or tokens for bert).
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


class BertLayer(nn.Module):
    """Post-LN encoder layer with Hugging Face's module names (attention.self.query, ...)."""

    def __init__(self, hidden, heads, ffn, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attn_out, self.attn_norm = nn.Linear(hidden, hidden), nn.LayerNorm(hidden, eps=1e-12)
        self.inter, self.out = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.out_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, key_bias):
        B, T, H = x.shape
        split = lambda t: t.view(B, T, self.heads, H // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = (q @ k.transpose(-1, -2) / (H // self.heads) ** 0.5 + key_bias).softmax(-1)
        ctx = (F.dropout(probs, self.p, self.training) @ v).transpose(1, 2).reshape(B, T, H)
        x = self.attn_norm(x + F.dropout(self.attn_out(ctx), self.p, self.training))
        return self.out_norm(x + F.dropout(self.out(F.gelu(self.inter(x))), self.p, self.training))


class BertMLM(nn.Module):
    """The mini-BERT of secateurs (bert-mlm): word + position + type embeddings, LayerNorm, post-LN
    layers, MLM head (dense, GELU, LayerNorm, decoder tied to the word embedding, bias)."""

    def __init__(self, vocab=8000, hidden=256, layers=4, heads=4, ffn=1024, seq=64, p=0.1):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position = nn.Embedding(seq, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(hidden, heads, ffn, p) for _ in range(layers))
        self.transform = nn.Linear(hidden, hidden)
        self.transform_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.p = p

    def forward(self, ids, targets, masked_head_only):
        T = ids.shape[1]
        x = self.word(ids) + self.position.weight[:T] + self.token_type.weight[0]
        x = F.dropout(self.norm(x), self.p, self.training)
        key_bias = torch.zeros(ids.shape[0], 1, 1, T).masked_fill(ids[:, None, None, :] == 0, float("-inf"))
        for layer in self.layers:
            x = layer(x, key_bias)
        if masked_head_only:  # the vocabulary projection only where a token is predicted
            keep = targets != -100
            x, targets = x[keep], targets[keep]
        h = self.transform_norm(F.gelu(self.transform(x)))
        logits = h @ self.word.weight.t() + self.bias
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def bert_batch(batch, vocab, seq):
    ids = torch.randint(5, vocab, (batch, seq))
    targets = torch.full((batch, seq), -100)
    chosen = torch.rand(batch, seq) < 0.15
    targets[chosen] = ids[chosen]
    return ids, targets


def bench_bert(a):
    model = BertMLM(vocab=a.vocab, seq=a.seq)
    ids, targets = bert_batch(a.batch, a.vocab, a.seq)
    masked = a.head == "masked"
    if a.mode == "train":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        model.train()

        def step():
            opt.zero_grad()
            model(ids, targets, masked).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(ids, targets, masked)
    return timed(step, a.batch * a.seq, a.seconds)


MODELS["bert"] = BertMLM


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


def timed(step, items, seconds):
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
            return n * items / dt, n * items / max(time.process_time() - c0, 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet300", choices=sorted(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--vocab", type=int, default=8000, help="bert: vocabulary size")
    ap.add_argument("--seq", type=int, default=64, help="bert: sequence length")
    ap.add_argument("--head", default="full", choices=["full", "masked"],
                    help="bert: MLM head on every position (as transformers' BertForMaskedLM) or only masked ones")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.model == "bert":
        wall, cpu = bench_bert(a)  # tokens per second
    else:
        model = MODELS[a.model]()
        fn = bench_train if a.mode == "train" else bench_infer
        wall, cpu = fn(model, a.batch, a.seconds)
    print(f"{a.model},{a.mode},{a.threads},{a.batch},{wall:.1f},{cpu:.1f}")


if __name__ == "__main__":
    main()
