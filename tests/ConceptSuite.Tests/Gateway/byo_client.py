"""The Python client's bring-your-own calls against a live server.

usage: byo_client.py ADDRESS TS_DIR SL_DIR OUT_DIR
TS_DIR: what tests/ConceptSuite.Tests/Embedding/torchscript_cnn.py wrote (cnn.pt, pixels.u8, ref_*.f32).
SL_DIR: what tests/ConceptSuite.Tests/Discovery/saelens_files.py wrote (topk.cfg.json, topk.safetensors, ...).
"""
import os
import sys

import numpy as np

from conceptsuite import Suite, SuiteError

address, ts, sl, out = sys.argv[1:5]
suite = Suite(address)

reg = suite.register_model(os.path.join(ts, "cnn.pt"), name="py-cnn", input_size=32, channel_order="bgr",
                           mean=(0.40, 0.45, 0.50), std=(0.20, 0.25, 0.30), taps=["logits=output", "pool=module:pool"])
print("registered", reg.model.name, [(t.name, list(t.shape), t.dtype) for t in reg.taps])
pixels = np.fromfile(os.path.join(ts, "pixels.u8"), np.uint8).reshape(4, 3, 32, 32)
acts = suite.embed(pixels, model="py-cnn", tap=["logits", "pool"])
for tap, ref, shape in [("logits", "ref_output.f32", (4, 5)), ("pool", "ref_pool.f32", (4, 16))]:
    want = np.fromfile(os.path.join(ts, ref), "<f4").reshape(shape)
    diff = float(np.abs(acts[tap] - want).max())
    assert diff <= 1e-5, (tap, diff)
    print(f"embed {tap}: max |difference| {diff:.1e}")
assert any(m.name == "py-cnn" for m in suite.models("torchscript"))

try:
    suite.register_model(os.path.join(ts, "cnn.pt"), name="py-bad", input_size=32, taps=["x=module:nope"])
    raise AssertionError("an unknown submodule was accepted")
except SuiteError as e:
    print("register error:", e.status, e.field)

sae = suite.import_sae(os.path.join(sl, "topk.safetensors"), cfg=os.path.join(sl, "topk.cfg.json"), name="py-topk")
x = np.fromfile(os.path.join(sl, "x.f32"), "<f4").reshape(20, 12)
codes = sae.encode(x)
want = np.fromfile(os.path.join(sl, "topk.codes.f32"), "<f4").reshape(20, 24)
diff = float(np.abs(codes - want).max())
assert diff <= 1e-5, diff
print(f"import_sae topk: codes match numpy, max |difference| {diff:.1e}")
cfg = suite.export_sae(sae, out)
assert cfg["architecture"] == "topk" and cfg["k"] == 3, cfg
again = suite.import_sae(out)
assert np.array_equal(again.encode(x), codes)
print("export_sae -> import_sae: same codes")
print("byo client: all checks passed")
