"""End-to-end check of the Python client (the installed conceptsuite package) against a running server.

Usage: python3 check_client.py ADDRESS   (after pip install --no-build-isolation -e clients/python)
Streams a tensor through TensorTransport.Echo, stores and reads back an artifact, runs a workflow with a
progress display and fetches its concept atlas, embeds images from numpy (the stream and the dataset job
must agree), fits a PCA dictionary and checks its atoms, codes and R² against numpy's own PCA, names its
concepts, trains a linear probe on the codes and checks its gradient x input importances against the
probe's logits (completeness, per class), and checks that bad requests raise SuiteError with the status
and the field. Prints one line per check and exits non-zero on the first failure.
"""
import sys

import numpy as np

import conceptsuite as cs
from conceptsuite import Suite, SuiteError, WorkflowError

suite = Suite(sys.argv[1])
rng = np.random.default_rng(0)
print(f"package: {cs.__file__}")

# 1. Echo: 3000 x 200 float32 (2.4 MB, three blocks) comes back bit for bit.
x = rng.standard_normal((3000, 200)).astype(np.float32)
blocks = list(cs.to_blocks(x, "x"))
back = cs.from_blocks(suite.transport.Echo(iter(blocks), timeout=60))
assert np.array_equal(back["x"], x), "echo changed the tensor"
print(f"echo: {len(blocks)} blocks, {x.nbytes} bytes, identical")
# The server shares this host: both directions went through shared memory; a client without it
# sends the same bytes inline and the sink sees the same hash.
assert suite.shared_memory.shared_bytes == 2 * x.nbytes, (suite.shared_memory.shared_bytes, suite.shared_memory.inline_reason)
with Suite(sys.argv[1], shared_memory=False) as inline:
    a = inline.transport.Sink(iter(cs.to_blocks(x, "x")), metadata=[("x-sha256", "1")], timeout=60)
b = suite.transport.Sink(iter(cs.to_blocks(x, "x")), metadata=[("x-sha256", "1")], timeout=60)
assert a.sha256 == b.sha256 and a.bytes == b.bytes == x.nbytes, (a, b)
print(f"shared memory: {suite.shared_memory.shared_bytes} bytes through regions, same sha256 as inline")

# 2. Artifacts: put two tensors, read them back, find the artifact in its kind's listing.
labels = np.arange(3000, dtype=np.int64) % 7
art = suite.put("activations", {"activations": x, "labels": labels}, metadata={"model": "python"})
got = suite.arrays(art)
assert len(art.id) == 64 and art.kind == "activations" and art.metadata == {"model": "python"}, art
assert np.array_equal(got["activations"], x) and np.array_equal(got["labels"], labels)
print(f"artifact: {art.id[:16]} stored and read back ({art.info.size_bytes} bytes)")

# Listings page: three more artifacts of a kind of their own, read two per page, come back in creation order.
paged = [suite.put("python-paging", {"x": np.full((2, 2), i, np.float32)}, metadata={"i": i}) for i in range(3)]
listed = list(suite.artifacts("python-paging", page_size=2))
assert [a.id for a in listed] == [a.id for a in paged], ([a.id[:8] for a in listed], [a.id[:8] for a in paged])
print(f"artifacts: {len(listed)} listed two per page, in creation order")

# 3. A workflow from Python: import concept-shapes and render its atlas, then read the data set back.
spec = {"name": "python-import", "steps": [
    {"name": "shapes", "method": "dataset.import", "options": {"source": "concept-shapes", "limit": 40, "seed": 1}},
    {"name": "atlas", "method": "atlas.render"}]}
wf = suite.run_workflow(spec)
assert wf.state == "succeeded" and list(wf.steps) == ["shapes", "atlas"], wf.steps
ds = wf.output("shapes", "dataset")
data = ds.arrays("images", "labels", "concept_labels")
assert data["images"].shape == (40, 3, 32, 32) and data["images"].dtype == np.uint8, data["images"].shape
assert data["labels"].shape == (40,) and set(np.unique(data["labels"])) <= {0, 1, 2}
assert data["concept_labels"].shape[0] == 40 and np.all(data["concept_labels"][:, :3].sum(axis=1) == 1)
print(f"workflow: {wf.id} imported {data['images'].shape[0]} images, {data['concept_labels'].shape[1]} concepts")

# The workflow's concept atlas: one HTML page with a section per ground-truth concept.
html = suite.atlas(wf.id)
concept_names = ds.metadata["concept_names"]
assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"), html[:200]
missing = [n for n in concept_names if f"<h3>{n} " not in html]
assert len(concept_names) == 16 and not missing, missing
print(f"atlas: {len(html.encode())} bytes of HTML, {len(concept_names)} concept names")

# Without tqdm the progress is one plain line per finished step; the same request replays the workflow.
import contextlib, io  # noqa: E401,E402
import conceptsuite.progress  # noqa: E402
saved, conceptsuite.progress._tqdm = conceptsuite.progress._tqdm, None
with contextlib.redirect_stderr(io.StringIO()) as err:
    again = suite.run_workflow(spec)
conceptsuite.progress._tqdm = saved
lines = [ln for ln in err.getvalue().splitlines() if "] " in ln]
assert again.id == wf.id and len(lines) == 2 and "[1/2] shapes succeeded" in lines[0] and "[2/2] atlas succeeded" in lines[1], err.getvalue()
print(f"progress without tqdm: {lines[-1]}")

# 4. Embed from numpy (uint8 NHWC in, as a user holds images) and as a dataset job: the same features.
images = data["images"]
x = suite.embed(images.transpose(0, 2, 3, 1), model="resnet18", tap="pool")
x_job = suite.embed(ds, model="resnet18", tap="pool")
assert x.shape == (40, 512) and x.dtype == np.float32 and np.all(np.isfinite(x)), (x.shape, x.dtype)
assert np.abs(x - x_job).max() < 1e-4, np.abs(x - x_job).max()
print(f"embed: {x.shape[0]} images -> {x.shape[1]} features, stream and dataset job agree to {np.abs(x - x_job).max():.1e}")

# 5. Fit a dictionary on the embeddings: PCA with 8 concepts; atoms, codes and metrics back as numpy.
C = 8
pca = suite.fit(x, method="pca", n_concepts=C, solver="exact")
atoms, codes = pca.atoms, pca.encode(x)
assert pca.info.method == "pca" and pca.n_concepts == C and pca.info.input_dim == 512, pca.info
assert atoms.shape == (C, 512) and codes.shape == (40, C), (atoms.shape, codes.shape)

# Closed forms: PCA atoms are orthonormal and span numpy's top-C principal subspace; the codes decode
# to x_hat = codes @ atoms + mean, whose R^2 is the explained-variance share of the top C eigenvalues,
# which is also the R^2 the stage reported; decode() computes the same x_hat on the server.
xd = x.astype(np.float64)
mu = xd.mean(axis=0)
_, sv, vt = np.linalg.svd(xd - mu, full_matrices=False)
r2_numpy = float((sv[:C] ** 2).sum() / (sv ** 2).sum())
a = atoms.astype(np.float64)
assert np.allclose(a @ a.T, np.eye(C), atol=1e-4), "atoms are not orthonormal"
proj_server, proj_numpy = a.T @ a, vt[:C].T @ vt[:C]
assert np.abs(proj_server - proj_numpy).max() < 1e-3, f"subspace differs by {np.abs(proj_server - proj_numpy).max()}"
x_hat = codes.astype(np.float64) @ a + mu
assert np.abs(pca.decode(codes) - x_hat).max() < 1e-3, np.abs(pca.decode(codes) - x_hat).max()
r2_client = 1 - ((xd - x_hat) ** 2).sum() / ((xd - mu) ** 2).sum()
r2_stage = pca.metrics["r2"]
assert abs(r2_client - r2_numpy) < 1e-4 and abs(r2_stage - r2_numpy) < 1e-4, (r2_client, r2_numpy, r2_stage)
assert 0.5 < r2_stage < 1, r2_stage
print(f"dictionary: {pca.artifact.id[:16]} pca {C} concepts, atoms {atoms.shape}, codes {codes.shape}, "
      f"r2 stage {r2_stage:.4f} client {r2_client:.4f} numpy {r2_numpy:.4f}")

# 6. Name the concepts with the data set's concept words through a bridge fitted on its captions.
names = pca.name(concept_names, images=x, captions=ds.metadata["captions"], alternatives=2)
assert len(names) == C and all(n.name in concept_names and -1 <= n.similarity <= 1 and len(n.alternatives) == 2 for n in names), names
assert 0 < pca.bridge_r2 <= 1, pca.bridge_r2
print(f"names: {C} concepts named from {len(concept_names)} words, bridge r2 {pca.bridge_r2:.3f}: {', '.join(n.name for n in names)}")

# 6b. Concepts shared by two modalities: SCoCCA on the image features paired with their captions' MiniLM
# embeddings; the same concepts encode either side (modality="paired" for the captions).
t = suite.embed_text(ds.metadata["captions"])
sc = suite.fit(x, method="scocca", n_concepts=4, paired=t, canonical_dims=4, sparsity=0.05)
cx, ct = sc.encode(x), sc.encode(t, modality="paired")
t_hat = sc.decode(ct, modality="paired")
assert cx.shape == (40, 4) and ct.shape == (40, 4) and t_hat.shape == t.shape and np.all(cx >= 0), (cx.shape, ct.shape, t_hat.shape)
assert "paired_r2" in sc.metrics and sc.atoms.shape == (4, 512), (sc.metrics, sc.atoms.shape)
print(f"paired: scocca 4 concepts, codes {cx.shape} and {ct.shape}, captions decoded {t_hat.shape}, paired r2 {sc.metrics['paired_r2']:.3f}")

# 7. A linear probe on the codes, its predictions, and gradient x input importances. For a linear
# head, phi[n, k] = W[t, k] * u[n, k], so logit_t(n) - sum_k phi[n, k] is the class bias b_t: one
# constant per target class.
labels = data["labels"]
probe = suite.train(codes, labels, "linear_probe")
out = probe.predict(codes)
assert out["logits"].shape == (40, 3) and out["predictions"].shape == (40,), {k: v.shape for k, v in out.items()}
assert np.array_equal(out["predictions"], out["logits"].argmax(1))
acc = float((out["predictions"] == labels).mean())
assert abs(acc - probe.metrics["train_accuracy"]) < 1e-6, (acc, probe.metrics)
phi = probe.explain(codes, method="gradient_input")
t = out["predictions"]
residual = out["logits"][np.arange(40), t] - phi.sum(axis=1)
spread = max(float(np.ptp(residual[t == c])) for c in np.unique(t))
assert phi.shape == (40, C) and spread < 1e-4, (phi.shape, spread)
print(f"bottleneck: linear probe on {C} codes, train accuracy {acc:.3f}; gradient_input completeness spread {spread:.1e}")

# 8. Errors: SuiteError carries the gRPC status name and the field the server named.
def error_of(call):
    try:
        call()
    except SuiteError as e:
        return e
    raise AssertionError("expected a SuiteError")


e = error_of(lambda: suite.fit(x, method="pca", n_concepts=600))
assert (e.status, e.field) == ("INVALID_ARGUMENT", "config.dictionaries[0].n_concepts") and "512" in e.rule, (e.status, e.field, e.rule)
e = error_of(lambda: suite.fit(x, method="topk_sae", n_concepts=8, k=9))
assert (e.status, e.field) == ("INVALID_ARGUMENT", "config.dictionaries[0].options.k"), (e.status, e.field)
e = error_of(lambda: suite.arrays("0" * 64))
assert e.status == "NOT_FOUND", e
e = error_of(lambda: suite.run_workflow({"name": "bad", "steps": [
    {"name": "shapes", "method": "dataset.import", "options": {"source": "concept-shapes", "limit": 0}}]}, progress=False))
assert isinstance(e, WorkflowError) and e.step == "shapes" and e.status == "INVALID_ARGUMENT" and e.field, (type(e), e)
methods = suite.methods()
assert {"pca", "topk_sae", "linear_probe", "sobol", "atlas.render"} <= {m.name for m in methods}
print(f"errors: INVALID_ARGUMENT config.dictionaries[0].n_concepts, ...options.k, NOT_FOUND, workflow step {e.field}; "
      f"{len(methods)} methods listed")
print("python client: all checks passed")
