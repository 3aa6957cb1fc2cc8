"""End-to-end check of the Python client against a running ConceptSuite server.

Usage: check_client.py ADDRESS STUBS_DIR [API_KEY [CA_BUNDLE.pem]]
(with a CA bundle the channel is TLS, the server's certificate checked against it).
Streams a tensor through TensorTransport.Echo, stores and reads back an artifact through the
gateway, imports a data set with a gateway workflow and reads it back together with the workflow's concept atlas (HTML rendered by
the gateway), embeds its images with
ResNet18 (numpy in, numpy out), fits a PCA concept dictionary on the embeddings and reads the
concepts back (GetDictionary, Encode), checking them against numpy's own PCA. Prints one line per
check and exits non-zero on the first failure.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conceptsuite_client as cs  # noqa: E402

address, stubs = sys.argv[1], sys.argv[2]
tensor_pb2, artifact_pb2, gateway_pb2 = cs.load_stubs(stubs)
from conceptsuite.v1 import tensor_pb2_grpc, gateway_pb2_grpc  # noqa: E402

api_key = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
ca_bundle = sys.argv[4] if len(sys.argv) > 4 else None
ch = cs.channel(address, api_key=api_key, tls=True if ca_bundle else None, root_certificates=ca_bundle)
rng = np.random.default_rng(0)

# 1. Echo: 3000 x 200 float32 (2.4 MB, three blocks) comes back bit for bit.
x = rng.standard_normal((3000, 200)).astype(np.float32)
blocks = list(cs.to_blocks(x, tensor_pb2, "x"))
back = cs.from_blocks(tensor_pb2_grpc.TensorTransportStub(ch).Echo(iter(blocks), timeout=60))
assert np.array_equal(back["x"], x), "echo changed the tensor"
print(f"echo: {len(blocks)} blocks, {x.nbytes} bytes, identical")

# 2. Artifacts through the gateway: put two tensors, read them back.
gw = gateway_pb2_grpc.GatewayServiceStub(ch)
labels = np.arange(3000, dtype=np.int64) % 7


def put_requests():
    yield artifact_pb2.PutArtifactRequest(header=artifact_pb2.PutArtifactHeader(kind="activations", metadata_json='{"model":"python"}'))
    for b in cs.to_blocks(x, tensor_pb2, "activations"):
        yield artifact_pb2.PutArtifactRequest(block=b)
    for b in cs.to_blocks(labels, tensor_pb2, "labels"):
        yield artifact_pb2.PutArtifactRequest(block=b)


info = gw.PutArtifact(put_requests(), timeout=60)
assert len(info.ref.id) == 64 and info.ref.kind == "activations", info
stream = gw.GetArtifact(artifact_pb2.GetArtifactRequest(id=info.ref.id), timeout=60)
first = next(stream)
assert first.HasField("info") and first.info.ref.id == info.ref.id
got = cs.from_blocks(m.block for m in stream)
assert np.array_equal(got["activations"], x) and np.array_equal(got["labels"], labels)
listed = gw.ListArtifacts(artifact_pb2.ListArtifactsRequest(kind="activations"), timeout=30)
assert any(a.ref.id == info.ref.id for a in listed.artifacts)
print(f"artifact: {info.ref.id[:16]} stored and read back ({info.size_bytes} bytes)")

# 3. A workflow from Python: import concept-shapes and render its atlas, then read the data set back.
spec = gateway_pb2.WorkflowSpec(name="python-import")
step = spec.steps.add(name="shapes", method="dataset.import")
step.options.update({"source": "concept-shapes", "limit": "40", "seed": "1"})
spec.steps.add(name="atlas", method="atlas.render")
final = None
for e in gw.RunWorkflow(gateway_pb2.RunWorkflowRequest(spec=spec), timeout=120):
    if e.HasField("finished"):
        final = e.finished
assert final is not None and final.state == gateway_pb2.WORKFLOW_STATE_SUCCEEDED, final
ds_id = final.steps[0].outputs["dataset"].id
stream = gw.GetArtifact(artifact_pb2.GetArtifactRequest(id=ds_id, tensors=["images", "labels", "concept_labels"]), timeout=60)
ds_info = next(stream).info
ds = cs.from_blocks(m.block for m in stream)
assert ds["images"].shape == (40, 3, 32, 32) and ds["images"].dtype == np.uint8, ds["images"].shape
assert ds["labels"].shape == (40,) and set(np.unique(ds["labels"])) <= {0, 1, 2}
assert ds["concept_labels"].shape[0] == 40 and np.all(ds["concept_labels"][:, :3].sum(axis=1) == 1)
print(f"workflow: {final.id} imported {ds['images'].shape[0]} images, {ds['concept_labels'].shape[1]} concepts")

# The workflow's concept atlas: one HTML page with a section per ground-truth concept.
html = cs.download_atlas(ch, final.id)
concept_names = json.loads(ds_info.metadata_json)["concept_names"]
assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"), html[:200]
missing = [n for n in concept_names if f"<h3>{n} " not in html]
assert len(concept_names) == 16 and not missing, missing
print(f"atlas: {len(html.encode())} bytes of HTML, {len(concept_names)} concept names")

# 4. Embed the images from numpy: uint8 [40, 3, 16, 16] row blocks in, ResNet18 "pool" rows out.
from conceptsuite.v1 import embedding_pb2, embedding_pb2_grpc, discovery_pb2, discovery_pb2_grpc  # noqa: E402

images = ds["images"]
ids = [f"img{i}" for i in range(images.shape[0])]


def embed_requests():
    yield embedding_pb2.EmbedImagesRequest(config=embedding_pb2.EmbedImagesConfig(model="resnet18", taps=["pool"]))
    for b in cs.to_blocks(images, tensor_pb2, "images", max_block_bytes=16 * 3 * 32 * 32, ids=ids):
        yield embedding_pb2.EmbedImagesRequest(images=b)


emb_blocks = list(embedding_pb2_grpc.EmbeddingServiceStub(ch).EmbedImages(embed_requests(), timeout=300))
assert [i for b in emb_blocks for i in b.ids] == ids, "embedding ids out of order"
x = cs.from_blocks(emb_blocks)["pool"]
assert x.shape == (40, 512) and x.dtype == np.float32 and np.all(np.isfinite(x)), (x.shape, x.dtype)
print(f"embed: {x.shape[0]} images -> {x.shape[1]} features in {len(emb_blocks)} blocks")

# 5. Fit a dictionary on the streamed embeddings (no artifact in between): PCA with 8 concepts.
disc = discovery_pb2_grpc.DiscoveryServiceStub(ch)
C = 8


def fit_requests():
    cfg = discovery_pb2.FitConfig(seed=0, skip_stability=True)
    cfg.dictionaries.add(method="pca", n_concepts=C, options={"solver": "exact"})
    yield discovery_pb2.FitRequest(config=cfg)
    for b in cs.to_blocks(x, tensor_pb2, "activations", max_block_bytes=10 * 512 * 4):
        yield discovery_pb2.FitRequest(block=b)


result = None
for e in disc.Fit(fit_requests(), timeout=300):
    if e.HasField("error"):
        raise AssertionError(f"fit failed: {e.error}")
    if e.HasField("result"):
        result = e.result
assert result is not None and result.artifact.ref.kind == "dictionary", result
dict_ref = discovery_pb2.DictionaryRef(artifact=result.artifact.ref)

# 6. Read the concepts back: the atoms [C, D] and the codes of the embeddings, as numpy.
stream = disc.GetDictionary(discovery_pb2.GetDictionaryRequest(dictionary=dict_ref), timeout=60)
info = next(stream).info
atoms = cs.from_blocks(m.block for m in stream)["atoms"]
assert info.method == "pca" and info.n_concepts == C and info.input_dim == 512, info
assert atoms.shape == (C, 512), atoms.shape


def encode_requests():
    yield discovery_pb2.EncodeRequest(config=discovery_pb2.EncodeConfig(dictionary=dict_ref))
    for b in cs.to_blocks(x, tensor_pb2, "activations", max_block_bytes=10 * 512 * 4):
        yield discovery_pb2.EncodeRequest(block=b)


encoded = cs.from_blocks(disc.Encode(encode_requests(), timeout=60))  # one code block per input block, same offsets
assert len(encoded) == 1, list(encoded)
codes = next(iter(encoded.values()))
assert codes.shape == (40, C), codes.shape

# Closed forms: PCA atoms are orthonormal and span numpy's top-C principal subspace; the codes
# decode to x_hat = codes @ atoms + mean, whose R^2 is the explained-variance share of the top C
# eigenvalues, which is also the R^2 the stage reported.
xd = x.astype(np.float64)
mu = xd.mean(axis=0)
_, sv, vt = np.linalg.svd(xd - mu, full_matrices=False)
r2_numpy = float((sv[:C] ** 2).sum() / (sv ** 2).sum())
a = atoms.astype(np.float64)
assert np.allclose(a @ a.T, np.eye(C), atol=1e-4), "atoms are not orthonormal"
proj_server, proj_numpy = a.T @ a, vt[:C].T @ vt[:C]
assert np.abs(proj_server - proj_numpy).max() < 1e-3, f"subspace differs by {np.abs(proj_server - proj_numpy).max()}"
x_hat = codes.astype(np.float64) @ a + mu
r2_client = 1 - ((xd - x_hat) ** 2).sum() / ((xd - mu) ** 2).sum()
r2_stage = info.metrics["r2"]
assert abs(r2_client - r2_numpy) < 1e-4 and abs(r2_stage - r2_numpy) < 1e-4, (r2_client, r2_numpy, r2_stage)
assert 0.5 < r2_stage < 1, r2_stage
print(f"dictionary: {result.artifact.ref.id[:16]} pca {C} concepts, atoms {atoms.shape}, codes {codes.shape}, "
      f"r2 stage {r2_stage:.4f} client {r2_client:.4f} numpy {r2_numpy:.4f}")
print("python client: all checks passed")
