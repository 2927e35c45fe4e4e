"""PyTorch side of `make bench`: the same architectures, batch sizes and thread counts as our
benchmarks, timed the same way (steady-state steps after warm-up). Run with Debian's python3-torch:
    /usr/bin/python3 experiments/reference/torch_bench.py --model lenet300 --threads 1
    /usr/bin/python3 experiments/reference/torch_bench.py --model bert --batch 32 --seq 64 --vocab 8000
Prints one CSV line per measurement: model,mode,threads,batch,items_per_s (images, or tokens for bert).
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


MODELS = {"lenet300": LeNet300, "bert": BertMLM}


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
    for _ in range(20):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt > seconds and n >= 10:
            return n * items / dt


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
        rate = bench_bert(a)  # tokens per second
    else:
        model = MODELS[a.model]()
        fn = bench_train if a.mode == "train" else bench_infer
        rate = fn(model, a.batch, a.seconds)
    print(f"{a.model},{a.mode},{a.threads},{a.batch},{rate:.1f}")


if __name__ == "__main__":
    main()
