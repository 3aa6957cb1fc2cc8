"""Writes SAELens-style SAEs (cfg.json + safetensors written by hand with numpy) and their codes.

usage: saelens_files.py OUT_DIR SEED

For each architecture A in standard, topk, jumprelu: OUT_DIR/A.cfg.json (SAELens cfg: d_in,
d_sae, architecture, k, apply_b_dec_to_input, normalize_activations), OUT_DIR/A.safetensors
(W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec, threshold for jumprelu; float32; the
header JSON, 8-byte little-endian length first, padded with spaces to 8 bytes), and
OUT_DIR/A.codes.f32: SAELens' encode of OUT_DIR/x.f32 ([20, 12] float32) computed in numpy.
The jumprelu SAE has apply_b_dec_to_input false, so its b_dec enters only the decoder.
"""
import json
import struct
import sys

import numpy as np

out, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
D_IN, D_SAE, K, N = 12, 24, 3, 20


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


x = rng.standard_normal((N, D_IN)).astype(np.float32)
x.tofile(f"{out}/x.f32")
for arch in ["standard", "topk", "jumprelu"]:
    w_dec = rng.standard_normal((D_SAE, D_IN)).astype(np.float32)
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    w_enc = (w_dec.T * 0.8 + 0.1 * rng.standard_normal((D_IN, D_SAE))).astype(np.float32)
    b_enc = (0.1 * rng.standard_normal(D_SAE)).astype(np.float32)
    b_dec = (0.2 * rng.standard_normal(D_IN)).astype(np.float32)
    apply_b_dec = arch != "jumprelu"
    pre = (x - b_dec * apply_b_dec) @ w_enc + b_enc
    tensors = {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": b_dec}
    cfg = {"architecture": arch, "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": apply_b_dec, "normalize_activations": "none"}
    if arch == "standard":
        codes = np.maximum(pre, 0)
    elif arch == "topk":
        cfg["k"] = K
        idx = np.argsort(-pre, axis=1)[:, :K]
        codes = np.zeros_like(pre)
        np.put_along_axis(codes, idx, np.maximum(np.take_along_axis(pre, idx, axis=1), 0), axis=1)
    else:
        theta = rng.uniform(0.05, 0.6, D_SAE).astype(np.float32)
        tensors["threshold"] = theta
        codes = np.maximum(pre, 0) * (pre > theta)
    write_safetensors(f"{out}/{arch}.safetensors", tensors)
    with open(f"{out}/{arch}.cfg.json", "w") as f:
        json.dump(cfg, f)
    codes.astype("<f4").tofile(f"{out}/{arch}.codes.f32")
print("ok")
