"""Python client helpers for ConceptSuite: numpy arrays <-> TensorBlock streams, channels.

Stubs come from clients/python/generate.sh (protos/ compiled with grpc_tools); put its output
folder on sys.path (or pass it to `load_stubs`) before importing this module's users.
"""
import os
import sys

import numpy as np

# Wire dtypes (tensor.proto DType) and their numpy equivalents, little-endian.
_DTYPES = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<f2"),
    5: np.dtype("<i8"), 6: np.dtype("<i4"), 7: np.dtype("u1"), 8: np.dtype("?"),
}
_TO_WIRE = {v: k for k, v in _DTYPES.items()}
DEFAULT_BLOCK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 16 << 20


def load_stubs(path=None):
    """Makes the generated stubs importable; returns (tensor_pb2, artifact_pb2, gateway_pb2, module of grpc stubs)."""
    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "conceptsuite_pb")
    if path not in sys.path:
        sys.path.insert(0, path)
    from conceptsuite.v1 import tensor_pb2, artifact_pb2, gateway_pb2  # noqa: E402
    return tensor_pb2, artifact_pb2, gateway_pb2


def channel(address, api_key=None, tls=None, root_certificates=None):
    """A gRPC channel with the suite's message limits.

    TLS when `tls` is true or the address is https:// (or `root_certificates` is given): the server's
    certificate is checked against `root_certificates` (PEM bytes, or a path to a PEM CA bundle for a
    private CA) or else the system's roots. `api_key` is sent as x-api-key metadata on every call:
    over TLS as call credentials, over plaintext (loopback) through an interceptor.
    """
    import grpc
    secure = tls if tls is not None else (address.startswith("https://") or root_certificates is not None)
    target = address.replace("http://", "").replace("https://", "")
    opts = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    if secure:
        roots = root_certificates
        if isinstance(roots, str):
            with open(roots, "rb") as f:
                roots = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=roots)
        if api_key:
            creds = grpc.composite_channel_credentials(
                creds, grpc.metadata_call_credentials(lambda _context, callback: callback((("x-api-key", api_key),), None)))
        return grpc.secure_channel(target, creds, options=opts)
    ch = grpc.insecure_channel(target, options=opts)
    if api_key:
        ch = grpc.intercept_channel(ch, _ApiKey(api_key))
    return ch


try:
    import grpc as _grpc

    class _ApiKey(_grpc.UnaryUnaryClientInterceptor, _grpc.UnaryStreamClientInterceptor,
                  _grpc.StreamUnaryClientInterceptor, _grpc.StreamStreamClientInterceptor):
        def __init__(self, key):
            self._key = key

        def _with_key(self, details):
            md = list(details.metadata or []) + [("x-api-key", self._key)]
            return details._replace(metadata=md) if hasattr(details, "_replace") else details

        def intercept_unary_unary(self, cont, details, request):
            return cont(self._with_key(details), request)

        def intercept_unary_stream(self, cont, details, request):
            return cont(self._with_key(details), request)

        def intercept_stream_unary(self, cont, details, it):
            return cont(self._with_key(details), it)

        def intercept_stream_stream(self, cont, details, it):
            return cont(self._with_key(details), it)
except ImportError:  # grpc missing: the numpy helpers still work
    pass


def to_blocks(array, tensor_pb2, name="", max_block_bytes=DEFAULT_BLOCK_BYTES, ids=None):
    """Splits an array [N, ...] into TensorBlocks of whole rows under max_block_bytes (a 0-d array is one block)."""
    a = np.ascontiguousarray(array)
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    a = a.astype(dt, copy=False)
    wire = _TO_WIRE.get(np.dtype(a.dtype.str.replace("=", "<")) if a.dtype.kind != "b" else np.dtype("?"))
    if wire is None:
        raise ValueError(f"dtype {a.dtype} has no wire type")
    if a.ndim == 0:
        a = a.reshape(1)
    n = a.shape[0]
    row = max(1, a[0:1].nbytes if n else 1)
    per = max(1, max_block_bytes // row)
    for start in range(0, max(n, 1), per):
        part = a[start:start + per]
        block = tensor_pb2.TensorBlock(name=name, row_offset=start, total_shape=list(a.shape),
                                       tensor=tensor_pb2.Tensor(dtype=wire, shape=list(part.shape), data=part.tobytes()))
        if ids is not None:
            block.ids.extend(ids[start:start + per])
        yield block
        if n == 0:
            break


def from_blocks(blocks):
    """Assembles blocks (any iterable of TensorBlock) into {name: ndarray}, checking offsets."""
    parts = {}
    for b in blocks:
        dt = _DTYPES[b.tensor.dtype]
        arr = np.frombuffer(b.tensor.data, dtype=dt).reshape(tuple(b.tensor.shape))
        p = parts.setdefault(b.name, [])
        expected = sum(x.shape[0] for x in p)
        if b.row_offset != expected:
            raise ValueError(f"block of '{b.name}' starts at row {b.row_offset}, expected {expected}")
        p.append(arr)
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def download_atlas(ch, workflow_id, timeout=60):
    """The concept atlas of a workflow as HTML text: the "atlas" artifact its atlas.render step stored.

    Needs the stubs importable (load_stubs). Raises LookupError when the workflow has no finished atlas step.
    """
    from conceptsuite.v1 import artifact_pb2, gateway_pb2, gateway_pb2_grpc  # noqa: E402
    gw = gateway_pb2_grpc.GatewayServiceStub(ch)
    w = gw.GetWorkflow(gateway_pb2.GetWorkflowRequest(id=workflow_id), timeout=timeout)
    refs = [r for s in w.steps if s.state == gateway_pb2.WORKFLOW_STATE_SUCCEEDED for r in s.outputs.values() if r.kind == "atlas"]
    if not refs:
        raise LookupError(f"workflow {workflow_id} has no atlas (no finished atlas.render step)")
    stream = gw.GetArtifact(artifact_pb2.GetArtifactRequest(id=refs[-1].id, tensors=["html"]), timeout=timeout)
    next(stream)  # the info header
    return from_blocks(m.block for m in stream)["html"].tobytes().decode("utf-8")
