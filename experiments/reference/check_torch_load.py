"""Checks that a checkpoint written by secateurs loads into the equivalent PyTorch module and gives
the same logits. Reads safetensors by hand (struct + json + torch.frombuffer: Debian 12 does not
package python3-safetensors), builds the model named by the file's "arch" metadata from the
definitions in torch_bench.py, calls load_state_dict(strict=True), runs the images that
`secateurs eval --dump-logits` wrote, and prints the largest absolute difference of the logits.

    build/secateurs train --model vgg --max-steps 50 --out runs/vgg_check
    build/secateurs eval --ckpt runs/vgg_check/model.safetensors --dump-logits runs/vgg_check/logits.safetensors
    /usr/bin/python3 experiments/reference/check_torch_load.py runs/vgg_check/model.safetensors \\
        runs/vgg_check/logits.safetensors

Exit status 1 when the state dict does not load or the difference exceeds --tol."""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench as tb  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    """(tensors by name, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return tensors, meta


def ints(options, key, default):
    return [int(v) for v in options[key].split("-")] if key in options else default


def build(arch):
    """The PyTorch module for a model spec "name[:key=value,...]" of our registry."""
    name, _, rest = arch.partition(":")
    options = dict(item.split("=", 1) for item in rest.split(",")) if rest else {}
    if name == "lenet300":
        return tb.LeNet300()
    if name == "lenet5":
        return tb.LeNet5(ints(options, "widths", [6, 16]), ints(options, "hidden", [120, 84]))
    if name in ("conv2", "conv4", "conv6"):
        default = {"conv2": [64, 64], "conv4": [64, 64, 128, 128], "conv6": [64, 64, 128, 128, 256, 256]}[name]
        return tb.ConvNet(ints(options, "widths", default), ints(options, "hidden", [256, 256]), False)
    if name == "vgg":
        return tb.ConvNet(ints(options, "widths", [32, 32, 64, 64, 128, 128]), ints(options, "hidden", [256]), True)
    if name == "resnet20":
        widths = ints(options, "widths", [16, 32, 64])
        blocks = ints(options, "blocks", [3])[0]
        return tb.ResNet(widths, blocks, ints(options, "inner", None))
    raise SystemExit(f"unknown model '{name}' in arch '{arch}'")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", help="a secateurs model checkpoint (.safetensors with 'arch' metadata)")
    ap.add_argument("logits", help="the file written by secateurs eval --dump-logits")
    ap.add_argument("--tol", type=float, default=1e-3, help="largest acceptable |logit difference|")
    a = ap.parse_args()
    state, meta = read_safetensors(a.checkpoint)
    arch = meta.get("arch")
    if not arch:
        raise SystemExit(f"{a.checkpoint}: no 'arch' metadata")
    model = build(arch)
    state = {k: v for k, v in state.items() if not k.startswith("optimizer.")}
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or misshapen tensor
    model.eval()
    dump, _ = read_safetensors(a.logits)
    with torch.no_grad():
        ours = dump["logits"]
        theirs = model(dump["input"])
    diff = (ours - theirs).abs().max().item()
    agree = (ours.argmax(1) == theirs.argmax(1)).float().mean().item()
    print(f"{arch}: {len(state)} tensors loaded strictly; {ours.shape[0]} images; max |logit difference| "
          f"{diff:.3g} (logits up to {theirs.abs().max().item():.3g}); same prediction on {100 * agree:.1f}%")
    return 0 if diff <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
