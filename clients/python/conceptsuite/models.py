"""Bring your own model and dictionary: RegisterModel (ONNX / TorchScript files) and SAELens SAE files.

The client reads the files and streams their bytes; the server never opens a client-named path.
"""
import json
import os

from ._stubs import discovery_pb2, embedding_pb2
from .errors import stream, translated
from .results import Artifact, Dictionary

CHUNK_BYTES = 1 << 20
SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"


def _chunks(data, size=CHUNK_BYTES):
    for at in range(0, len(data), size):
        yield data[at:at + size]


def _format_of(path):
    ext = os.path.splitext(path)[1].lower()
    if ext == ".onnx":
        return "onnx"
    if ext in (".pt", ".pth", ".ts", ".torchscript"):
        return "torchscript"
    raise ValueError(f"cannot tell the format of {path!r} from its extension; pass format='onnx' or 'torchscript'")


def _tap_specs(taps, flatten):
    """Taps as ModelTapSpec: names, "name=source" strings, (name, source) pairs or {name: source}."""
    if isinstance(taps, dict):
        taps = list(taps.items())
    specs = []
    for t in taps or ():
        if isinstance(t, str):
            name, _, source = t.partition("=")
        else:
            name, source = t
        specs.append(embedding_pb2.ModelTapSpec(name=name, source=source, flatten=name in set(flatten or ())))
    return specs


def register_model(suite, path, name=None, format=None, input_size=224, channels=3, taps=(), flatten=(),
                   channel_order="rgb", scaling="unit", mean=(), std=(), preprocess=None, version=""):
    """Uploads an ONNX or TorchScript image model; returns the RegisterModelResponse (.model as
    ListModels lists it, .artifact, .taps with each tap's measured shape and dtype).

    input_size: side S or (H, W); channels: 1 or 3. taps: graph value names (ONNX), or for
    TorchScript "output", dict keys, tuple indices or "module:<path>" submodules, each optionally
    renamed as "name=source". Pixels reach the model as: channel_order ("rgb"/"bgr"), then x/255
    (scaling "unit") or 0-255 ("byte"), then (x - mean[c]) / std[c]. preprocess: an optional ONNX
    preprocessing model run before an ONNX model.
    """
    fmt = format or _format_of(path)
    with open(path, "rb") as f:
        model = f.read()
    pre = b""
    if preprocess is not None:
        with open(preprocess, "rb") as f:
            pre = f.read()
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    spec = embedding_pb2.RegisterModelSpec(
        name=name or os.path.splitext(os.path.basename(path))[0], format=fmt, channels=channels, height=h, width=w,
        preprocessing=embedding_pb2.ModelPreprocessing(channel_order=channel_order, scaling=scaling, mean=list(mean), std=list(std)),
        taps=_tap_specs(taps, flatten), size_bytes=len(model), preprocess_size_bytes=len(pre), version=version)

    def requests():
        yield embedding_pb2.RegisterModelRequest(spec=spec)
        for c in _chunks(model + pre):
            yield embedding_pb2.RegisterModelRequest(chunk=c)

    with translated():
        return suite._embedding.RegisterModel(requests(), timeout=suite.timeout)


def export_sae(suite, dictionary, directory):
    """Writes a sparse autoencoder as SAELens files: DIRECTORY/cfg.json and DIRECTORY/sae_weights.safetensors
    (SAE.load_from_disk(DIRECTORY) reads them). Returns the cfg as a dict."""
    ref = dictionary.ref if isinstance(dictionary, Dictionary) else discovery_pb2.DictionaryRef(artifact=suite._ref(dictionary))
    cfg, data = "", bytearray()
    for m in stream(suite._discovery.ExportDictionary(discovery_pb2.ExportDictionaryRequest(dictionary=ref), timeout=suite.timeout)):
        if m.WhichOneof("part") == "cfg_json":
            cfg = m.cfg_json
        else:
            data += m.chunk
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, SAELENS_CFG), "w", encoding="utf-8") as f:
        f.write(cfg)
    with open(os.path.join(directory, SAELENS_WEIGHTS), "wb") as f:
        f.write(bytes(data))
    return json.loads(cfg)


def import_sae(suite, path, cfg=None, name=""):
    """Stores an SAELens SAE (a folder with cfg.json and sae_weights.safetensors, or a .safetensors file
    with cfg given as a dict or a path) as a dictionary; returns the Dictionary (encode, decode, atoms)."""
    weights = os.path.join(path, SAELENS_WEIGHTS) if os.path.isdir(path) else path
    if cfg is None:
        cfg = os.path.join(os.path.dirname(weights), SAELENS_CFG)
    if isinstance(cfg, dict):
        cfg_json = json.dumps(cfg)
    else:
        with open(cfg, encoding="utf-8") as f:
            cfg_json = f.read()
    with open(weights, "rb") as f:
        data = f.read()

    def requests():
        yield discovery_pb2.ImportDictionaryRequest(header=discovery_pb2.ImportDictionaryHeader(cfg_json=cfg_json, size_bytes=len(data), name=name))
        for c in _chunks(data):
            yield discovery_pb2.ImportDictionaryRequest(chunk=c)

    with translated():
        info = suite._discovery.ImportDictionary(requests(), timeout=suite.timeout)
    return Dictionary(suite, Artifact(suite, info.ref, info))
