"""Writes a small TorchScript CNN and its reference activations for the RegisterModel tests.

usage: torchscript_cnn.py OUT_DIR SEED

OUT_DIR/cnn.pt        torch.jit.script of a two-stage CNN on 3x32x32 BGR input; forward returns
                      the class logits [N, 5] (one tensor, so the named submodules can be tapped).
OUT_DIR/pixels.u8     uint8 [4, 3, 32, 32] RGB test images (0-255), raw C-order bytes.
OUT_DIR/ref_*.f32     float32 little-endian activations of those images after the model's
                      preprocessing (RGB -> BGR, x/255, minus mean, over std), raw C order:
                      ref_output.f32 (logits, [N, 5]), ref_features_1.f32 (features.1, the first
                      ReLU, [N, 8, 32, 32]), ref_pool.f32 (pool, [N, 16]).
OUT_DIR/mlp.onnx      an ONNX MLP whose input is [N, 8] (rank 2: not an image model).
"""
import sys

import numpy as np
import torch
from torch import nn

out, seed = sys.argv[1], int(sys.argv[2])
torch.manual_seed(seed)
MEAN = [0.40, 0.45, 0.50]
STD = [0.20, 0.25, 0.30]

model = nn.Sequential()
model.add_module("features", nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()))
model.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
model.add_module("head", nn.Linear(16, 5))
model.eval()
scripted = torch.jit.script(model)
scripted.save(f"{out}/cnn.pt")

rng = np.random.default_rng(seed)
pixels = rng.integers(0, 256, size=(4, 3, 32, 32), dtype=np.uint8)
pixels.tofile(f"{out}/pixels.u8")
x = torch.from_numpy(pixels.astype(np.float32))[:, [2, 1, 0]] / 255.0
x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
with torch.no_grad():
    f1 = model.features[1](model.features[0](x))
    pool = model.pool(model.features(x))
    logits = model(x)
logits.numpy().astype("<f4").tofile(f"{out}/ref_output.f32")
f1.numpy().astype("<f4").tofile(f"{out}/ref_features_1.f32")
pool.numpy().astype("<f4").tofile(f"{out}/ref_pool.f32")
mlp = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
torch.onnx.export(mlp, torch.zeros(1, 8), f"{out}/mlp.onnx", input_names=["x"], output_names=["y"])
print("ok")
