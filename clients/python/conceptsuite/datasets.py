"""Data sets from the files users hold, read here and streamed through ImportDataset (the server never opens
a client-named path): an image folder (one subfolder per class), .npy (labels.npy next to it, or labels=),
.npz and .safetensors (keys "images" and "labels"). The same rules as the .NET client's DatasetFiles."""
import json
import os
import re
import zipfile

import numpy as np

from .errors import SuiteError, translated
from .progress import Progress
from .tensors import images_nchw, to_blocks

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# An encoded image travels in one gRPC message (16 MiB), with room for its envelope.
MAX_IMAGE_FILE_BYTES = 15 << 20
# The largest array a file may declare; larger ones are refused before anything is read.
MAX_ARRAY_BYTES = 1 << 31
_SAFETENSORS_DTYPES = {"U8": "u1", "BOOL": "?", "I32": "<i4", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8"}


class DatasetFiles:
    """What read_path found: name, class_names, and either images uint8 [N, C, H, W] with labels int64 [N],
    or files [(path, label)] of an image folder (decoded by the embedding stage)."""

    def __init__(self, name, class_names, images=None, labels=None, files=()):
        self.name, self.class_names, self.images, self.labels, self.files = name, list(class_names), images, labels, list(files)

    @property
    def rows(self):
        return len(self.files) if self.images is None else self.images.shape[0]


def _checked_bytes(shape, dtype, source, max_bytes):
    n = int(np.prod([int(d) for d in shape], dtype=object)) * dtype.itemsize if shape else dtype.itemsize
    if any(int(d) < 0 for d in shape):
        raise ValueError(f"{source}: shape {tuple(shape)} has a negative size")
    if n > max_bytes:
        raise ValueError(f"{source}: shape {tuple(shape)} is {n} bytes, over the import limit of {max_bytes}")
    return n


def _npy(f, length, source, max_bytes):
    """One .npy array from an open binary stream of `length` bytes, its header checked before reading the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        shape, fortran, dtype = fmt.read_array_header_1_0(f) if version == (1, 0) else fmt.read_array_header_2_0(f)
    except Exception as e:  # numpy raises ValueError, tokenize.TokenError, SyntaxError, ... for a broken header
        raise ValueError(f"{source}: corrupt .npy header: {e}") from None
    if dtype.kind not in "uifb" or dtype.hasobject:
        raise ValueError(f"{source}: dtype {dtype} is not supported (numbers only: uint, int, float, bool)")
    n = _checked_bytes(shape, dtype, source, max_bytes)
    held = length - f.tell()
    if n != held:
        raise ValueError(f"{source}: the header declares shape {tuple(shape)} of {dtype}, {n} bytes, but the file holds {held} bytes of data")
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{source}: the data ends after {len(data)} of {n} bytes")
    a = np.frombuffer(data, dtype=dtype)
    return a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)


def read_npy(path, max_bytes=MAX_ARRAY_BYTES):
    with open(path, "rb") as f:
        return _npy(f, os.fstat(f.fileno()).st_size, os.fspath(path), max_bytes)


def read_npz(path, max_bytes=MAX_ARRAY_BYTES):
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an .npz file (a zip archive): {e}") from None
    out, total = {}, 0
    with z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            total += info.file_size
            if total > max_bytes:
                raise ValueError(f"{path}:{key}: the archive's arrays exceed {max_bytes} bytes in all")
            with z.open(info) as f:
                try:
                    out[key] = _npy(f, info.file_size, f"{path}:{key}", max_bytes)
                except (zipfile.BadZipFile, EOFError, OSError) as e:
                    raise ValueError(f"{path}:{key}: corrupt archive member: {e}") from None
    return out


def read_safetensors(path, max_bytes=MAX_ARRAY_BYTES):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 0 or n > min(100_000_000, size - 8):
            raise ValueError(f"{path}: not a valid safetensors file: header length {n} in a {size}-byte file")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise ValueError(f"{path}: not a valid safetensors file: header is not JSON: {e}") from None
        out = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            source = f"{path}:{name}"
            dt = _SAFETENSORS_DTYPES.get(e.get("dtype"))
            if dt is None:
                raise ValueError(f"{source}: safetensors dtype {e.get('dtype')} is not supported")
            dtype, shape = np.dtype(dt), tuple(int(d) for d in e.get("shape", ()))
            begin, end = (int(x) for x in e.get("data_offsets", (0, -1)))
            nbytes = _checked_bytes(shape, dtype, source, max_bytes)
            if end - begin != nbytes or begin < 0 or 8 + n + end > size:
                raise ValueError(f"{source}: offsets {begin}..{end} do not hold shape {shape} of {dtype} inside the file")
            f.seek(8 + n + begin)
            out[name] = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape)
    return out


def _labels(a, rows, source):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{source}: labels are {a.dtype}; they must be integers (class indices 0, 1, ...)")
    if a.ndim != 1:
        raise ValueError(f"{source}: labels must be one-dimensional [N], got shape {a.shape}")
    if a.shape[0] != rows:
        raise ValueError(f"{source}: {a.shape[0]} labels for {rows} images; there must be one label per image")
    if a.size and a.min() < 0:
        raise ValueError(f"{source}: labels must be >= 0, got {a.min()}")
    return a.astype(np.int64)


def _folder(path):
    root = os.path.abspath(path)
    entries = sorted(os.listdir(root))
    if any(os.path.isfile(os.path.join(root, e)) and e.lower().endswith(IMAGE_EXTENSIONS) for e in entries):
        raise ValueError(f"{path}: holds images at its top level; an image folder has one subfolder per class, the images inside")
    classes = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    if not classes:
        raise ValueError(f"{path}: has no subfolders; an image folder has one subfolder per class")
    files = []
    for label, c in enumerate(classes):
        found = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, c)) for f in fs if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise ValueError(f"{os.path.join(root, c)}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        for f in found:
            if os.path.getsize(f) > MAX_IMAGE_FILE_BYTES:
                raise ValueError(f"{f}: is {os.path.getsize(f)} bytes; one image file must be under {MAX_IMAGE_FILE_BYTES} bytes")
            files.append((f, label))
    return DatasetFiles(os.path.basename(root.rstrip(os.sep)), classes, files=files)


def read_path(path, labels=None, layout="auto", max_bytes=MAX_ARRAY_BYTES):
    """Reads an image folder or an .npy/.npz/.safetensors file (see the module); every check runs here, before any call.
    labels: a labels .npy path or an int array [N] (array files only); layout: "auto", "nchw" or "nhwc" (images_nchw)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if labels is not None:
            raise ValueError(f"{path}: an image folder's labels are its subfolders; labels= is for array files")
        return _folder(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file or folder")
    name, ext = os.path.splitext(os.path.basename(path))
    ext = ext.lower()
    if ext == ".npy":
        images, source = read_npy(path, max_bytes), path
        if labels is None:
            labels = os.path.join(os.path.dirname(os.path.abspath(path)), "labels.npy")
            if not os.path.isfile(labels):
                raise ValueError(f"{path}: no labels: put them in {labels} (int [N]) or pass labels=")
    elif ext in (".npz", ".safetensors"):
        arrays = read_npz(path, max_bytes) if ext == ".npz" else read_safetensors(path, max_bytes)
        if "images" not in arrays:
            raise ValueError(f"{path}: has no key 'images' (keys: {', '.join(sorted(arrays))})")
        images, source = arrays["images"], f"{path}:images"
        if labels is None:
            if "labels" not in arrays:
                raise ValueError(f"{path}: has no key 'labels' (int [N]); add it or pass labels=")
            labels = arrays["labels"]
    else:
        raise ValueError(f"{path}: unknown kind of file '{ext}': an image folder, .npy, .npz or .safetensors")
    label_source = labels if isinstance(labels, (str, os.PathLike)) else f"{path}:labels"
    if isinstance(labels, (str, os.PathLike)):
        labels = read_npy(labels, max_bytes)
    try:
        imgs = images_nchw(images, field=source, layout=layout)
    except ValueError as e:
        raise ValueError(str(e)) from None
    return DatasetFiles(name, (), imgs, _labels(labels, imgs.shape[0], label_source))


_IMAGE_INDEX = re.compile(r"images\[(\d+)\]")


def import_files(suite, data, name="", class_names=(), size=None, grey=False, progress=False):
    """Streams a DatasetFiles through ImportDataset with a progress bar over rows; returns the stored Artifact.
    size: SIDE or (HEIGHT, WIDTH) to resize a folder's images to; grey: decode them as 1 channel."""
    from ._stubs import embedding_pb2
    from .results import Artifact
    if data.images is not None and (size is not None or grey):
        raise ValueError("size and grey apply to an image folder; arrays are imported at their own size and channels")
    h, w = (0, 0) if size is None else (size, size) if isinstance(size, int) else tuple(size)
    header = embedding_pb2.ImportDatasetHeader(name=name or data.name, class_names=list(class_names) or data.class_names,
                                               height=h, width=w, channels=1 if grey else 0)
    bar = Progress(data.rows, f"import {header.name}", progress, unit="row")

    def requests():
        yield embedding_pb2.ImportDatasetRequest(header=header)
        if data.images is not None:
            for b in to_blocks(data.labels, "labels", suite.block_bytes):
                yield embedding_pb2.ImportDatasetRequest(block=b)
            for b in to_blocks(data.images, "images", suite.block_bytes):
                yield embedding_pb2.ImportDatasetRequest(block=b)
                bar.advance(b.tensor.shape[0])
        else:
            for path, label in data.files:
                with open(path, "rb") as f:
                    image = embedding_pb2.EncodedImage(id=os.path.basename(path), data=f.read())
                yield embedding_pb2.ImportDatasetRequest(image=embedding_pb2.LabelledImage(image=image, label=label))
                bar.advance(1)

    try:
        with translated():
            info = suite._embedding.ImportDataset(requests(), timeout=suite.timeout)
    except SuiteError as e:
        m = _IMAGE_INDEX.search(e.message)
        hint = "; here: size=(HEIGHT, WIDTH)" if "header.height/width" in e.message else ""
        if m and int(m.group(1)) < len(data.files):
            raise SuiteError(e.code, f"{e.message} (file {data.files[int(m.group(1))][0]}){hint}", e.field) from None
        raise
    finally:
        bar.close()
    return Artifact(suite, info.ref, info)
