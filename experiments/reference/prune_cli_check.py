# Cross-check of `secateurs prune` against torch.nn.utils.prune on a PyTorch-written safetensors file
# (F32 and F16 tensors, an integer tensor and metadata that must pass through unchanged).
# Run: /usr/bin/python3 experiments/reference/prune_cli_check.py build/secateurs   (prints OK per case)
# safetensors is written and read by hand here (the Python package is not needed).
import json, struct, torch
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64", torch.int64: "I64"}
RDT = {v: k for k, v in DT.items()}
def save(path, tensors, metadata=None):
    header = {}; off = 0; blobs = []
    for k, t in tensors.items():
        t = t.contiguous()
        b = t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[k] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    if metadata: header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]; header = json.loads(data[8:8+n]); out = {}
    meta = header.pop("__metadata__", {})
    for k, v in header.items():
        s, e = v["data_offsets"]; buf = bytearray(data[8+n+s:8+n+e])
        dt = RDT[v["dtype"]]
        if dt == torch.bfloat16: t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else: t = torch.frombuffer(buf, dtype=dt)
        out[k] = t.reshape(v["shape"]).clone()
    return out, meta
import torch, torch.nn as nn, torch.nn.utils.prune as prune, subprocess, sys
BIN = sys.argv[1]
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
conv = nn.Conv2d(3, 6, 3)
sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
sd["conv.weight"] = conv.weight.detach().clone(); sd["conv.bias"] = conv.bias.detach().clone()
sd["half.weight"] = torch.randn(6, 5).half()
sd["steps"] = torch.tensor([3, 4], dtype=torch.int64)
save("in.safetensors", sd, {"arch": "custom", "note": "kept"})
def run(*args):
    r = subprocess.run([BIN, "prune", "--in", "in.safetensors", "--out", "out.safetensors", *args], capture_output=True, text=True)
    if r.returncode: print(r.stderr); raise SystemExit(1)
    return load("out.safetensors")
def check(name, out, meta, masks):
    ok = True
    for k, m in masks.items():
        got = out[k + "_mask"].float()
        if not torch.equal(got, m.float()): print(name, k, "MASK DIFFERS"); ok = False
        if not torch.equal(out[k].float(), (sd[k].float() * m.float())): print(name, k, "VALUES DIFFER"); ok = False
        if out[k].dtype != sd[k].dtype or out[k + "_mask"].dtype != sd[k].dtype: print(name, k, "DTYPE"); ok = False
    for k in sd:
        if k not in masks and not torch.equal(out[k], sd[k]): print(name, k, "COPIED TENSOR CHANGED"); ok = False
    if meta != {"arch": "custom", "note": "kept"}: print(name, "METADATA", meta); ok = False
    print(name, "OK" if ok else "FAIL")
weights = ["0.weight", "2.weight", "4.weight", "conv.weight", "half.weight"]
# local l1 0.3
out, meta = run("--method", "l1_unstructured", "--amount", "0.3")
masks = {k: prune.L1Unstructured(0.3).compute_mask(sd[k].float(), torch.ones_like(sd[k].float())) for k in weights}
check("l1 0.3", out, meta, masks)
# ln structured n=2 dim 1, count 2 on selected params
out, meta = run("--method", "ln_structured", "--amount", "2", "--n", "2", "--dim", "1", "--params", "*.weight", "--ignore", "half.*")
masks = {k: prune.LnStructured(2, 2, dim=1).compute_mask(sd[k].float(), torch.ones_like(sd[k].float())) for k in weights[:4]}
check("ln2 dim1 count2", out, meta, masks)
# global l1 0.5 over the linear weights
out, meta = run("--method", "l1_unstructured", "--amount", "0.5", "--scope", "global", "--params", "0.weight,2.weight,4.weight")
mods = [net[0], net[2], net[4]]
prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured, amount=0.5)
check("global 0.5", out, meta, {k: m.weight_mask for k, m in zip(weights[:3], mods)})
# repeated: prune the output again, pruning only survivors (PyTorch container)
import shutil; shutil.copy("out.safetensors", "in2.safetensors")
r = subprocess.run([BIN, "prune", "--in", "in2.safetensors", "--out", "out2.safetensors", "--method", "l1_unstructured", "--amount", "0.5", "--params", "0.weight"], capture_output=True, text=True)
o2, _ = load("out2.safetensors")
prune.l1_unstructured(net[0], "weight", amount=0.5)
print("repeat", "OK" if torch.equal(o2["0.weight_mask"], net[0].weight_mask) else "FAIL")
# inf on conv dim 0
out, meta = run("--method", "ln_structured", "--amount", "0.5", "--n", "inf", "--params", "conv.weight")
check("conv inf dim0", out, meta, {"conv.weight": prune.LnStructured(0.5, float('inf'), dim=0).compute_mask(sd["conv.weight"], torch.ones_like(sd["conv.weight"]))})
