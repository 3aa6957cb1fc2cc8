"""End-to-end check of the Python client against a running ConceptSuite server.

Usage: check_client.py ADDRESS STUBS_DIR
Streams a tensor through TensorTransport.Echo, stores and reads back an artifact through the
gateway, imports a data set with a gateway workflow and reads it back. Prints one line per check
and exits non-zero on the first failure.
"""
import sys
import os

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conceptsuite_client as cs  # noqa: E402

address, stubs = sys.argv[1], sys.argv[2]
tensor_pb2, artifact_pb2, gateway_pb2 = cs.load_stubs(stubs)
from conceptsuite.v1 import tensor_pb2_grpc, gateway_pb2_grpc  # noqa: E402

ch = cs.channel(address)
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

# 3. A workflow from Python: import concept-shapes, then read the data set back.
spec = gateway_pb2.WorkflowSpec(name="python-import")
step = spec.steps.add(name="shapes", method="dataset.import")
step.options.update({"source": "concept-shapes", "count": "40", "seed": "1", "size": "16"})
final = None
for e in gw.RunWorkflow(gateway_pb2.RunWorkflowRequest(spec=spec), timeout=120):
    if e.HasField("finished"):
        final = e.finished
assert final is not None and final.state == gateway_pb2.WORKFLOW_STATE_SUCCEEDED, final
ds_id = final.steps[0].outputs["dataset"].id
stream = gw.GetArtifact(artifact_pb2.GetArtifactRequest(id=ds_id, tensors=["images", "labels", "concept_labels"]), timeout=60)
next(stream)
ds = cs.from_blocks(m.block for m in stream)
assert ds["images"].shape == (40, 3, 16, 16) and ds["images"].dtype == np.uint8, ds["images"].shape
assert ds["labels"].shape == (40,) and set(np.unique(ds["labels"])) <= {0, 1, 2}
assert ds["concept_labels"].shape[0] == 40 and np.all(ds["concept_labels"][:, :3].sum(axis=1) == 1)
print(f"workflow: {final.id} imported {ds['images'].shape[0]} images, {ds['concept_labels'].shape[1]} concepts")
print("python client: all checks passed")
