"""numpy arrays <-> TensorBlock streams (tensor.proto): raw little-endian row-major bytes in blocks of whole rows."""
import numpy as np

# Wire dtypes (tensor.proto DType) and their numpy equivalents, little-endian.
_DTYPES = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<f2"),
    5: np.dtype("<i8"), 6: np.dtype("<i4"), 7: np.dtype("u1"), 8: np.dtype("?"),
}
_TO_WIRE = {v: k for k, v in _DTYPES.items()}
DEFAULT_BLOCK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 16 << 20


def to_blocks(array, name="", max_block_bytes=DEFAULT_BLOCK_BYTES, ids=None):
    """Splits an array [N, ...] into TensorBlocks of whole rows under max_block_bytes (a 0-d array is one block)."""
    from ._stubs import tensor_pb2
    a = np.ascontiguousarray(array)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False) if a.dtype.byteorder == ">" else a
    wire = _TO_WIRE.get(np.dtype("?") if a.dtype.kind == "b" else np.dtype(a.dtype.str.replace("=", "<")))
    if wire is None:
        raise ValueError(f"{name or 'tensor'}: dtype {a.dtype} has no wire type (float32/64/16, int64/32, uint8, bool)")
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
    """Assembles blocks (any iterable of TensorBlock) into {name: ndarray}, checking that rows tile without gaps."""
    parts = {}
    for b in blocks:
        dt = _DTYPES.get(b.tensor.dtype)
        if dt is None:
            raise ValueError(f"block of '{b.name}' has dtype {b.tensor.dtype}, which numpy cannot hold")
        arr = np.frombuffer(b.tensor.data, dtype=dt).reshape(tuple(b.tensor.shape))
        p = parts.setdefault(b.name, [])
        expected = sum(x.shape[0] for x in p)
        if b.row_offset != expected:
            raise ValueError(f"block of '{b.name}' starts at row {b.row_offset}, expected {expected}")
        p.append(arr)
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def images_nchw(images, field="images", as_uint8=True, layout="auto"):
    """Images as [N, C, H, W] (C = 1 or 3) from [N, H, W], [N, H, W, C] or [N, C, H, W]: uint8, or with
    as_uint8=False float input as float32 on the 0-255 scale (the embedding stage's two image types).

    layout of a 4-D array: "auto" reads [N, C, H, W] when axis 1 has 1 or 3 entries, else [N, H, W, C] when
    axis 3 has (so an ambiguous [N, 3, 3, 3] is channels-first); "nchw" or "nhwc" say it outright.
    uint8 stays as is; floats are taken as 0-1 when their maximum is at most 1, else as 0-255.
    """
    if layout not in ("auto", "nchw", "nhwc"):
        raise ValueError(f"layout: must be 'auto', 'nchw' or 'nhwc', got {layout!r}")
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and (layout == "nhwc" or (layout == "auto" and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3))):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4:
        raise ValueError(f"{field}: must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape {a.shape}")
    if a.shape[1] not in (1, 3):
        raise ValueError(f"{field}: needs 1 or 3 channels in axis 1 ([N, C, H, W]) or axis 3 ([N, H, W, C]), got shape "
                         f"{np.asarray(images).shape} read as {layout if layout != 'auto' else 'nchw'}")
    if a.dtype.kind == "b":
        raise ValueError(f"{field}: dtype bool is not an image type (uint8, integers 0-255 or float)")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{field}: dtype {a.dtype} is not an image type (uint8 or float)")
    f = a.astype(np.float64)
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{field}: holds NaN or Inf")
    scale = 255.0 if f.size and f.max() <= 1.0 and a.dtype.kind == "f" else 1.0
    f = f * scale
    if f.size and (f.min() < 0 or f.max() > 255):
        raise ValueError(f"{field}: values must lie in 0-1 or 0-255, got {f.min():g}..{f.max():g}")
    if not as_uint8 and a.dtype.kind == "f":
        return np.ascontiguousarray(f.astype(np.float32))
    return np.ascontiguousarray(np.rint(f).astype(np.uint8))
