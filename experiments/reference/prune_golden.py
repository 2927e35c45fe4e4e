# Golden masks for tests/test_prune_select.cpp, from torch.nn.utils.prune (PyTorch 1.13) on small fixed
# tensors whose scores have no ties. Run: /usr/bin/python3 experiments/reference/prune_golden.py
# The tests hard-code this output; they never need PyTorch.
import torch, torch.nn as nn, torch.nn.utils.prune as prune, itertools, random
random.seed(7)
def vals(n, seed):
    r = random.Random(seed)
    v = list(range(1, 4*n+1)); r.shuffle(v); v = v[:n]
    return [x * 0.125 * (1 if r.random() < 0.6 else -1) for x in v]
def fl(t): return [int(x) for x in t.flatten().tolist()]
def fmt(name, l): print(f"{name} = {{{', '.join(str(x) for x in l)}}}")
def fmtf(name, l): print(f"{name} = {{{', '.join(repr(float(x))+'f' for x in l)}}}")

# l1_unstructured on a Linear(4->3) weight [3,4]
m = nn.Linear(4, 3); w = vals(12, 1)
with torch.no_grad(): m.weight.copy_(torch.tensor(w).view(3,4))
fmtf("W34", w)
prune.l1_unstructured(m, 'weight', amount=0.3); fmt("l1 0.3", fl(m.weight_mask))
prune.l1_unstructured(m, 'weight', amount=0.5); fmt("then 0.5", fl(m.weight_mask))
prune.l1_unstructured(m, 'weight', amount=2); fmt("then 2", fl(m.weight_mask))
m2 = nn.Linear(4,3)
with torch.no_grad(): m2.weight.copy_(torch.tensor(w).view(3,4))
prune.l1_unstructured(m2, 'weight', amount=5); fmt("l1 count 5", fl(m2.weight_mask))
prune.l1_unstructured(m2, 'weight', amount=0.0); fmt("then 0.0", fl(m2.weight_mask))

# ln_structured on [4,5]
def ties(x):
    x = [round(float(a), 5) for a in x]; return len(set(x)) != len(x)
seed = 2
while True:
    w = vals(20, seed); t = torch.tensor(w).view(4,5)
    bad = False
    for n in [1,2,float('inf')]:
        for d in [0,1]:
            if ties(torch.norm(t, p=n, dim=[1-d])): bad = True
    orders0 = set(); orders1 = set()
    for n in [1,2,float('inf')]:
        orders0.add(tuple(sorted(torch.argsort(torch.norm(t, p=n, dim=[1])).tolist()[:2])))
        orders1.add(tuple(sorted(torch.argsort(torch.norm(t, p=n, dim=[0])).tolist()[:2])))
    if not bad and len(orders0) == 3 and len(orders1) >= 2: break
    seed += 1
fmtf("W45", w)
for n in [1, 2, float('inf')]:
    for d in [0, 1]:
        for amt in [0.5, 1]:
            m = nn.Linear(5, 4)
            with torch.no_grad(): m.weight.copy_(t)
            prune.ln_structured(m, 'weight', amount=amt, n=n, dim=d)
            fmt(f"ln n={n} dim={d} amount={amt}", fl(m.weight_mask))
# repeated structured: dim 1 amount 0.4 (5 cols -> 2), then 0.5 of the remaining 3 -> round(1.5)=2
m = nn.Linear(5, 4)
with torch.no_grad(): m.weight.copy_(t)
prune.ln_structured(m, 'weight', amount=0.4, n=2, dim=1); fmt("ln2 dim1 0.4", fl(m.weight_mask))
prune.ln_structured(m, 'weight', amount=0.5, n=2, dim=1); fmt("then 0.5", fl(m.weight_mask))
# unstructured after structured
prune.l1_unstructured(m, 'weight', amount=0.25); fmt("then l1 0.25", fl(m.weight_mask))
# structured after unstructured (container picks channels with any survivor)
m = nn.Linear(5, 4)
with torch.no_grad(): m.weight.copy_(t)
prune.l1_unstructured(m, 'weight', amount=0.5); fmt("l1 0.5", fl(m.weight_mask))
prune.ln_structured(m, 'weight', amount=1, n=1, dim=0); fmt("then ln1 dim0 count1", fl(m.weight_mask))

# conv [4,3,2,2]
seed = 11
while True:
    w = vals(48, seed); t = torch.tensor(w).view(4,3,2,2)
    bad = False
    for n in [1,2,float('inf')]:
        if ties(torch.norm(t, p=n, dim=[1,2,3])) or ties(torch.norm(t, p=n, dim=[0,2,3])) or ties(torch.norm(t,p=n,dim=[0,1,2])): bad=True
    o = set()
    for n in [1,2,float('inf')]:
        o.add(tuple(sorted(torch.argsort(torch.norm(t, p=n, dim=[1,2,3])).tolist()[:2])))
    if not bad and len(o) == 3: break
    seed += 1
fmtf("WC", w)
for n in [1, 2, float('inf')]:
    for d in [0, 1, -1]:
        c = nn.Conv2d(3, 4, 2)
        with torch.no_grad(): c.weight.copy_(t)
        prune.ln_structured(c, 'weight', amount=0.5, n=n, dim=d)
        fmt(f"conv ln n={n} dim={d} 0.5", fl(c.weight_mask))

# global unstructured over [2,3], [4], [3,3]
a = nn.Linear(3,2); b = nn.Linear(4,4); c = nn.Linear(3,3)
allv = vals(6+4+9, 5)
with torch.no_grad():
    a.weight.copy_(torch.tensor(allv[:6]).view(2,3)); b.bias.copy_(torch.tensor(allv[6:10])); c.weight.copy_(torch.tensor(allv[10:]).view(3,3))
fmtf("GA", allv[:6]); fmtf("GB", allv[6:10]); fmtf("GC", allv[10:])
ps = [(a,'weight'),(b,'bias'),(c,'weight')]
prune.global_unstructured(ps, pruning_method=prune.L1Unstructured, amount=0.4)
fmt("g0.4 a", fl(a.weight_mask)); fmt("g0.4 b", fl(b.bias_mask)); fmt("g0.4 c", fl(c.weight_mask))
prune.global_unstructured(ps, pruning_method=prune.L1Unstructured, amount=3)
fmt("then 3 a", fl(a.weight_mask)); fmt("then 3 b", fl(b.bias_mask)); fmt("then 3 c", fl(c.weight_mask))

# rounding: fraction of n elements -> count pruned
for n, amt in [(5,0.5),(7,0.5),(10,0.25),(10,0.35),(10,0.45),(10,0.15),(4,0.125),(4,0.375),(3,0.5),(1,0.5)]:
    m = nn.Linear(n,1)
    with torch.no_grad(): m.weight.copy_(torch.arange(1,n+1,dtype=torch.float).view(1,n))
    prune.l1_unstructured(m,'weight',amount=amt)
    print("round", n, amt, int((m.weight_mask==0).sum()))
# validation errors
for amt in [1.5, -0.1, -1, 13]:
    m = nn.Linear(4,3)
    try:
        prune.l1_unstructured(m,'weight',amount=amt); print("ok", amt)
    except Exception as e: print("err", amt, type(e).__name__, e)
try:
    prune.ln_structured(nn.Linear(4,3),'bias',amount=0.5,n=1,dim=0)
except Exception as e: print("err 1d", type(e).__name__, e)
try:
    prune.ln_structured(nn.Linear(4,3),'weight',amount=0.5,n=1,dim=2)
except Exception as e: print("err dim", type(e).__name__, e)
