#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/: a few small valid
inputs and one of each kind of invalid input the README's bad-input table lists. Run once; the
outputs are committed (crash reproducers found later are added next to them by hand)."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(type_code, dims, values):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(values)


put("idx", "valid-labels", idx(8, [5], [0, 1, 2, 9, 3]))
put("idx", "valid-images", idx(8, [2, 3, 3], range(18)))
put("idx", "gzip", b"\x1f\x8b\x08\x00" + bytes(12))
put("idx", "bad-magic", b"\x50\x4b" + idx(8, [2], [1, 2])[2:])
put("idx", "bad-type", idx(0x0D, [1], [0, 0, 0, 0]))
put("idx", "truncated", idx(8, [4, 2, 2], range(10)))
put("idx", "trailing", idx(8, [2], [1, 2, 3]))
put("idx", "overflow", idx(8, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))

record = lambda label, v: bytes([label]) + bytes((v + i) % 256 for i in range(3072))
put("cifar", "valid-1", record(3, 0))
put("cifar", "valid-2", record(0, 1) + record(9, 2))
put("cifar", "label-10", record(10, 0))
put("cifar", "truncated", record(1, 0)[:2000])
put("cifar", "cifar100", bytes(3074))
put("cifar", "gzip", b"\x1f\x8b\x08\x00" + bytes(60))


def safetensors(header, data, declared=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h) if declared is None else declared) + h + data


put("safetensors", "valid",
    safetensors({"__metadata__": {"arch": "lenet300"},
                 "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                 "ids": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
                 "h": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
                 "b": {"dtype": "BF16", "shape": [], "data_offsets": [28, 30]},
                 "m": {"dtype": "U8", "shape": [2], "data_offsets": [30, 32]}},
                struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<q", -7) + b"\x00\x3c\x00\xc0" + b"\x80\x3f" + b"\x01\x00"))
put("safetensors", "valid-empty", safetensors({}, b""))
put("safetensors", "huge-header", safetensors(b"{}", b"", declared=200_000_000))
put("safetensors", "header-past-end", safetensors(b"{}", b"", declared=64))
put("safetensors", "lying-size", safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)))
put("safetensors", "overlap", safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
put("safetensors", "out-of-range", safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)))
put("safetensors", "unknown-dtype", safetensors({"a": {"dtype": "F8", "shape": [2], "data_offsets": [0, 2]}}, bytes(2)))
put("safetensors", "trailing", safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(8)))
put("safetensors", "invalid-utf8", safetensors(b'{"\xff":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}', bytes(4)))

put("json", "object", '{"a":[1,2.5e-3,"x\\u00e9\\n",true,false,null],"b":{"c":-0}}')
put("json", "numbers", "[0,-1,18446744073709551615,18446744073709551616,1e308,-2.5E+3]")
put("json", "surrogates", '["\\ud83d\\ude00","\\u0000"]')
put("json", "utf8", '"caf\xc3\xa9 \xf0\x9f\x98\x80"'.encode("latin-1"))
put("json", "bad-utf8", b'"\xc0\xaf"')
put("json", "trailing-comma", "[1,]")
put("json", "duplicate-key", '{"a":1,"a":2}')
put("json", "deep", "[" * 70)

put("args", "valid", "lenet300:hidden=300-100\0--epochs\0003\0--lr=0.5\0--resume\0in.bin\0--batch-size\0-4")
put("args", "bool-word", "x\0--resume\0false\0--seed\00018446744073709551615")
put("args", "bad", "x:y\0--epochs\0three\0--ratio\0nan\0--unknown")
put("args", "missing-value", "x\0--model")
put("args", "range", "lenet300:hidden=0-x\0a\0b\0--epochs\099999999999\0--seed\0-1")


# Sparse checkpoints: a safetensors file with "format": "secateurs-sparse-1" and, per sparse tensor
# <name>, the metadata "sparse.<name>" (its dense shape) and the entries <name>.crow_indices (I32),
# <name>.col_indices (I32 or U16) and <name>.values (F32).
def sparse_file(tensors, dense=(), meta=None, fmt="secateurs-sparse-1"):
    header, blob = {"__metadata__": {"format": fmt}}, b""
    def add(name, dtype, shape, data):
        nonlocal blob
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    for name, shape, crow, col, vals, col_dtype in tensors:
        header["__metadata__"]["sparse." + name] = shape
        add(name + ".crow_indices", "I32", [len(crow)], struct.pack("<%di" % len(crow), *crow))
        fmt_c = "<%dH" % len(col) if col_dtype == "U16" else "<%di" % len(col)
        add(name + ".col_indices", col_dtype, [len(col)], struct.pack(fmt_c, *col))
        add(name + ".values", "F32", [len(vals)], struct.pack("<%df" % len(vals), *vals))
    for name, vals in dense:
        add(name, "F32", [len(vals)], struct.pack("<%df" % len(vals), *vals))
    header["__metadata__"].update(meta or {})
    return safetensors(header, blob)


w = ("fc.weight", "3,4", [0, 2, 2, 3], [0, 3, 1], [1.5, -2.0, 0.25], "I32")
put("sparse_checkpoint", "valid", sparse_file([w], dense=[("fc.bias", [0.1, 0.2, 0.3])]))
put("sparse_checkpoint", "valid-conv16",
    sparse_file([("conv.weight", "2,1,2,2", [0, 1, 3], [2, 0, 3], [1.0, 2.0, 3.0], "U16")]))
put("sparse_checkpoint", "valid-empty-rows", sparse_file([("e.weight", "3,5", [0, 0, 0, 0], [], [], "I32")]))
put("sparse_checkpoint", "not-monotone", sparse_file([("fc.weight", "3,4", [0, 2, 1, 3], [0, 3, 1], [1, 2, 3], "I32")]))
put("sparse_checkpoint", "unsorted-cols", sparse_file([("fc.weight", "3,4", [0, 2, 2, 3], [3, 0, 1], [1, 2, 3], "I32")]))
put("sparse_checkpoint", "col-out-of-range", sparse_file([("fc.weight", "3,4", [0, 2, 2, 3], [0, 4, 1], [1, 2, 3], "I32")]))
put("sparse_checkpoint", "bad-shape", sparse_file([("fc.weight", "3,x", [0, 2, 2, 3], [0, 3, 1], [1, 2, 3], "I32")]))
put("sparse_checkpoint", "huge-shape", sparse_file([("fc.weight", "2147483647,2147483647,2147483647", [0, 0], [], [], "I32")]))
put("sparse_checkpoint", "rows-mismatch", sparse_file([("fc.weight", "5,4", [0, 2, 2, 3], [0, 3, 1], [1, 2, 3], "I32")]))
put("sparse_checkpoint", "missing-values",
    sparse_file([w], meta={"sparse.other.weight": "2,2"}))
put("sparse_checkpoint", "dense-and-sparse", sparse_file([w], dense=[("fc.weight", [1.0])]))
# Recipes, resolved against the fuzz target's model (conv.weight, conv.bias, fc1.weight, fc1.bias,
# attn.out.weight, fc2.weight).
put("recipe", "oneshot", "# one-shot magnitude\n[step hidden]\nparams = fc1.weight, conv.*\nignore = conv.bias\n"
    "method = l1_unstructured\namount = 0.5\n")
put("recipe", "global", "[step]\nparams = *.weight\nmethod = magnitude\namount = 0.7\nscope = global\n"
    "layer_normalize = true\nmin_sparsity = 0.1\nmax_sparsity = 0.9\nlayer_amount = fc2.weight 0.2\n")
put("recipe", "structured", "[step rows]\nparams = fc1.weight\nmethod = ln_structured\nn = inf\ndim = 1\namount = 2\n"
    "[step filters]\nparams = conv.weight\nmethod = magnitude\ngranularity = filters\nn = 2\nnormalize = true\n"
    "amount = 0.25\n[step heads]\nparams = attn.out.weight\nmethod = random\ngranularity = heads\nheads = 4\n"
    "dim = 0\nseed = 3\namount = 1\n")
put("recipe", "iterative", "[step]\r\nparams = fc?.weight\r\nmethod = magnitude\r\ngranularity = kernels\r\n"
    "schedule = iterative\r\nrounds = 3\r\nevery = 5\r\nstart = 2\r\namount = 0.8\r\n"
    "[step again]\nparams=fc1.weight\nmethod=random_unstructured\namount=10\n")
put("recipe", "agp", "[step]\nparams = fc1.weight\nmethod = taylor\nbatches = 2\nbatch_size = 8\namount = 0.9\n"
    "schedule = agp\nstart = 0\nend = 100\nevery = 10\ninitial = 0.1\n")
put("recipe", "unknown-key", "[step]\nparams = fc1.weight\nmethod = magnitude\namount = 0.5\nsparsity = 0.5\n")
put("recipe", "no-match", "[step]\nparams = fc9.weight\nmethod = magnitude\namount = 0.5\n")
put("recipe", "negative-amount", "[step]\nparams = fc1.weight\nmethod = magnitude\namount = -0.5\n")
put("recipe", "amount-above-1", "[step]\nparams = fc1.weight\nmethod = magnitude\namount = 1.5\n")
put("recipe", "repeated", "[step]\nparams = fc1.weight\nparams = fc2.weight\nmethod = magnitude\namount = 0.5\n")
put("recipe", "empty", "# nothing\n\n")
put("recipe", "control-char", "[step]\nparams = fc1.weight\x01\nmethod = magnitude\namount = 0.5\n")

# Text: the first byte picks the reader (0 Bible TSV, 1 labelled TSV, 2 plain text, 3 vocabulary).
put("text", "kjv", b"\x00Ge1:1\tGenesis\tlaw\tIn the beginning God created the heaven and the earth.\r\n"
    b"John3:16\tJohn\tgospels_acts\tFor God so loved the world, that he gave...\n\n")
put("text", "kjv-bad-genre", b"\x00Ge1:1\tGenesis\tpoetry\tx\n")
put("text", "kjv-duplicate", b"\x00Ge1:1\tGenesis\tlaw\tx\nGe1:1\tGenesis\tlaw\ty\n")
put("text", "tsv", b"\x01zoo\tThe cat's hat!\nart\tpaint  it\tnow\nart\tdraw\n\nzoo\t \n")
put("text", "tsv-utf8", "\x01caf\u00e9\tna\u00efve r\u00e9sum\u00e9 \u2014 \U0001F600\n".encode())
put("text", "tsv-invalid-utf8", b"\x01a\t\xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82\n")
put("text", "plain", b"\x02first line\n\nsecond\tline  \r\nTHIRD, LINE.\n")
put("text", "plain-empty", b"\x02")
put("text", "plain-blank", b"\x02 \n\t\n\r\n")
put("text", "plain-nul", b"\x02abc\x00def\n")
put("text", "plain-gzip", b"\x02\x1f\x8b\x08\x00")
put("text", "vocab", b"\x03[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\t12\nlord\t5\n")
put("text", "vocab-duplicate", b"\x03[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nthe\n")
put("text", "vocab-no-specials", b"\x03the\nlord\n")
