"""Suite: the ConceptSuite services behind one address, numpy in and numpy out."""
import json
import os

import grpc
import numpy as np

from . import models
from ._stubs import (artifact_pb2, artifact_pb2_grpc, bottleneck_pb2, bottleneck_pb2_grpc, discovery_pb2, discovery_pb2_grpc,
                     embedding_pb2, embedding_pb2_grpc, explain_pb2, explain_pb2_grpc, gateway_pb2, gateway_pb2_grpc,
                     methods_pb2, tensor_pb2_grpc)
from . import datasets
from .errors import SuiteError, WorkflowError, stream, translated
from . import texts
from .progress import Progress
from .results import Artifact, Bottleneck, Dictionary, Method, Workflow, _options, explain_requests
from .shm import SharedMemoryLink
from .tensors import DEFAULT_BLOCK_BYTES, MAX_MESSAGE_BYTES, from_blocks, images_nchw, to_blocks


class _ApiKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
              grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Sends the API key as "x-api-key" metadata on every call."""

    def __init__(self, key):
        self._key = key

    def _with_key(self, details):
        return details._replace(metadata=list(details.metadata or []) + [("x-api-key", self._key)])

    def intercept_unary_unary(self, cont, details, request):
        return cont(self._with_key(details), request)

    def intercept_unary_stream(self, cont, details, request):
        return cont(self._with_key(details), request)

    def intercept_stream_unary(self, cont, details, it):
        return cont(self._with_key(details), it)

    def intercept_stream_stream(self, cont, details, it):
        return cont(self._with_key(details), it)


def channel(target, api_key=None, tls=None):
    """A gRPC channel with the suite's message limits. target: "host:port", "http://host:port" or
    "https://host:port"; tls: None (TLS only for https://), True (system roots) or a PEM root-certificate path."""
    if target.startswith("https://"):
        target, tls = target[len("https://"):], True if tls is None else tls
    elif target.startswith("http://"):
        target = target[len("http://"):]
    opts = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    if tls:
        roots = None
        if tls is not True:
            with open(os.fspath(tls), "rb") as f:
                roots = f.read()
        ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots), options=opts)
    else:
        ch = grpc.insecure_channel(target, options=opts)
    return grpc.intercept_channel(ch, _ApiKey(api_key)) if api_key else ch


class Suite:
    """A ConceptSuite server (every stage in one process, or a front that serves them all).

    Suite("127.0.0.1:50051"); Suite("https://suite.example:443", api_key="...", tls="ca.pem").
    Calls take numpy arrays and return numpy arrays or result objects; every failure raises SuiteError
    with .status ("INVALID_ARGUMENT", ...) and .field (the request field the server named).
    """

    def __init__(self, target="127.0.0.1:50051", api_key=None, tls=None, timeout=None, block_bytes=DEFAULT_BLOCK_BYTES,
                 shared_memory=True):
        self.target = target
        self.timeout = timeout
        self.block_bytes = block_bytes
        base = channel(target, api_key, tls)
        # Large tensor blocks through shared memory when the server shares this host (inline otherwise).
        self.shared_memory = SharedMemoryLink(base) if shared_memory else None
        self.channel = grpc.intercept_channel(base, self.shared_memory) if shared_memory else base
        self._base_channel = base
        self._gateway = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self._artifacts = artifact_pb2_grpc.ArtifactServiceStub(self.channel)
        self._embedding = embedding_pb2_grpc.EmbeddingServiceStub(self.channel)
        self._discovery = discovery_pb2_grpc.DiscoveryServiceStub(self.channel)
        self._bottleneck = bottleneck_pb2_grpc.BottleneckServiceStub(self.channel)
        self._explain = explain_pb2_grpc.ExplainServiceStub(self.channel)
        self.transport = tensor_pb2_grpc.TensorTransportStub(self.channel)

    def close(self):
        if self.shared_memory is not None:
            self.shared_memory.close()
        self._base_channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------

    def _ref(self, artifact):
        """An ArtifactRef from an Artifact, a result object, an ArtifactRef or an id string."""
        if isinstance(artifact, (Dictionary, Bottleneck)):
            artifact = artifact.artifact
        if isinstance(artifact, Artifact):
            return artifact.ref
        if isinstance(artifact, artifact_pb2.ArtifactRef):
            return artifact
        if isinstance(artifact, str):
            return artifact_pb2.ArtifactRef(id=artifact)
        raise TypeError(f"expected an artifact (Artifact, ArtifactRef or id), got {type(artifact).__name__}")

    def _job(self, call, desc, progress):
        """Runs a job's event stream to its result; a JobError event raises SuiteError."""
        bar = Progress(0, desc, progress, unit="")
        try:
            for e in stream(call):
                kind = e.WhichOneof("event")
                if kind == "error":
                    raise SuiteError.from_job(e.error)
                if kind == "progress":
                    p = e.progress
                    bar.status(f"{p.phase} {p.done}/{p.total or '?'} {p.unit}".strip())
                elif kind == "result":
                    return e.result
        finally:
            bar.close()
            call.cancel()
        raise SuiteError(grpc.StatusCode.UNKNOWN, "the job's stream ended without a result")

    def _gateway_store_info(self, artifact_id):
        return self._artifacts.GetArtifactInfo(artifact_pb2.GetArtifactInfoRequest(id=artifact_id), timeout=self.timeout)

    def _activations_ref(self, activations):
        """An activations artifact: stored ones pass through, arrays are uploaded (tensor "activations")."""
        if isinstance(activations, np.ndarray):
            return self.put("activations", {"activations": np.asarray(activations, np.float32)})
        return Artifact(self, self._ref(activations))

    # ---- artifacts ---------------------------------------------------------------------------------

    def put(self, kind, tensors, metadata=None, labels=None):
        """Stores {name: ndarray} as an artifact of `kind` with JSON metadata; returns the Artifact."""
        arrays = {k: np.asarray(v) for k, v in tensors.items()}
        header = artifact_pb2.PutArtifactHeader(kind=kind, labels=labels or {}, metadata_json=json.dumps(metadata or {}))

        def requests():
            yield artifact_pb2.PutArtifactRequest(header=header)
            for name, a in arrays.items():
                for b in to_blocks(a, name, self.block_bytes):
                    yield artifact_pb2.PutArtifactRequest(block=b)

        with translated():
            info = self._gateway.PutArtifact(requests(), timeout=self.timeout)
        return Artifact(self, info.ref, info)

    def arrays(self, artifact, *names):
        """A stored artifact's tensors (all, or the named ones) as {name: ndarray}."""
        req = artifact_pb2.GetArtifactRequest(id=self._ref(artifact).id, tensors=list(names))
        msgs = stream(self._gateway.GetArtifact(req, timeout=self.timeout))
        info = next(msgs).info
        if isinstance(artifact, Artifact) and artifact.info is None:
            artifact.info = info
        return from_blocks(m.block for m in msgs)

    # ---- data and embeddings -----------------------------------------------------------------------

    def import_images(self, images, labels=None, name="", class_names=(), concept_labels=None, concept_names=()):
        """Stores images ([N, H, W], [N, H, W, C] or [N, C, H, W]; uint8 or float 0-1 / 0-255) with their int
        labels [N] (and optional concept_labels float [N, K]) as a "dataset" artifact; returns the Artifact."""
        imgs = images_nchw(images)
        tensors = [("images", imgs)]
        if labels is not None:
            lab = np.asarray(labels)
            if lab.shape != (imgs.shape[0],) or lab.dtype.kind not in "iu":
                raise ValueError(f"labels: must be integers [N] with N = {imgs.shape[0]}, got {lab.dtype} {lab.shape}")
            tensors.append(("labels", lab.astype(np.int64)))
        if concept_labels is not None:
            tensors.append(("concept_labels", np.asarray(concept_labels, np.float32)))
        header = embedding_pb2.ImportDatasetHeader(name=name, class_names=list(class_names), concept_names=list(concept_names))
        return self._import(header, tensors)

    def import_path(self, path, labels=None, name="", layout="auto", class_names=(), size=None, grey=False, progress=False):
        """Stores a data set read from files as a "dataset" artifact; returns the Artifact. path: an image folder
        (one subfolder per class; PNG/JPEG/... decoded by the server, resized to `size` when given, grey when
        `grey`), an .npy of images (labels.npy next to it, or `labels`), or an .npz / .safetensors with keys
        "images" and "labels". A workflow takes it as run_workflow(..., dataset=f"artifact:{artifact.id}")."""
        data = datasets.read_path(path, labels=labels, layout=layout)
        return datasets.import_files(self, data, name=name, class_names=class_names, size=size, grey=grey, progress=progress)

    def import_source(self, source, limit=0, seed=0, name="", **options):
        """Stores rows of a built-in source ("fashion-mnist:test", "mnist", "concept-shapes", ...: ListMethods
        family "dataset_source") as a "dataset" artifact; returns the Artifact."""
        header = embedding_pb2.ImportDatasetHeader(name=name, source=source, limit=limit, seed=seed, options=_options(options))
        return self._import(header, [])

    def import_text(self, path_or_list, labels=None, name="", class_names=(), progress=False):
        """Stores a text corpus (a file: one example per line or JSONL with "text"/"label"; or a list of
        strings) as a "texts" artifact; returns the Artifact. See conceptsuite.texts."""
        return texts.import_text(self, path_or_list, labels, name, class_names, progress)

    def _import(self, header, tensors):
        def requests():
            yield embedding_pb2.ImportDatasetRequest(header=header)
            for name, a in tensors:
                for b in to_blocks(a, name, self.block_bytes):
                    yield embedding_pb2.ImportDatasetRequest(block=b)

        with translated():
            info = self._embedding.ImportDataset(requests(), timeout=self.timeout)
        return Artifact(self, info.ref, info)

    def embed(self, images_or_dataset, model="resnet18", tap=None, limit=0, progress=False):
        """Activations float32 [N, ...tap shape] of `model` at `tap` (the model's default when None; a list of
        taps returns {tap: ndarray}). Input: images (as import_images takes them), streamed through
        EmbedImages, or a stored dataset (Artifact or id), embedded as a job (first `limit` rows; 0 for all)."""
        taps = [] if tap is None else [tap] if isinstance(tap, str) else list(tap)
        if isinstance(images_or_dataset, np.ndarray) or isinstance(images_or_dataset, (list, tuple)):
            imgs = images_nchw(images_or_dataset, as_uint8=False)
            if limit:
                imgs = imgs[:limit]
            ids = [str(i) for i in range(imgs.shape[0])]

            def requests():
                yield embedding_pb2.EmbedImagesRequest(config=embedding_pb2.EmbedImagesConfig(model=model, taps=taps))
                for b in to_blocks(imgs, "images", self.block_bytes, ids=ids):
                    yield embedding_pb2.EmbedImagesRequest(images=b)

            out = from_blocks(stream(self._embedding.EmbedImages(requests(), timeout=self.timeout)))
        else:
            req = embedding_pb2.EmbedDatasetRequest(dataset=self._ref(images_or_dataset), model=model, taps=taps, limit=limit)
            result = self._job(self._embedding.EmbedDataset(req, timeout=self.timeout), f"embed {model}", progress)
            out = self.arrays(Artifact(self, result.artifact.ref, result.artifact))
            out = {k: v for k, v in out.items() if k != "labels"}
        if isinstance(tap, (list, tuple)):
            return out
        return next(iter(out.values()))

    def embed_text(self, texts, model=""):
        """Sentence embeddings float32 [N, 384] (MiniLM, L2-normalised) of `texts`."""
        req = embedding_pb2.EmbedTextRequest(model=model, texts=list(texts))
        return next(iter(from_blocks(stream(self._embedding.EmbedText(req, timeout=self.timeout))).values()))

    def models(self, kind=""):
        """The model registry: [ModelDescriptor] (name, kind, input, taps with their shapes)."""
        with translated():
            return list(self._embedding.ListModels(embedding_pb2.ListModelsRequest(kind=kind), timeout=self.timeout).models)

    def register_model(self, path, **spec):
        """Uploads an ONNX or TorchScript model file (see conceptsuite.models.register_model for the spec)."""
        return models.register_model(self, path, **spec)

    def export_sae(self, dictionary, directory):
        """Writes a sparse autoencoder as SAELens files (cfg.json, sae_weights.safetensors) in `directory`."""
        return models.export_sae(self, dictionary, directory)

    def import_sae(self, path, cfg=None, name=""):
        """Stores an SAELens SAE (folder or .safetensors file plus cfg) as a Dictionary."""
        return models.import_sae(self, path, cfg, name)

    # ---- discovery ---------------------------------------------------------------------------------

    def fit(self, activations, method="topk_sae", n_concepts=16, seed=0, stability=False, validation=None, name="",
            progress=False, paired=None, paired_tensor="", **options):
        """Trains a concept dictionary on activations (float [N, D], [N, C, H, W] or [N, T, D], or a stored
        activations artifact) with `method` (ListMethods family "dictionary") and its options, e.g.
        fit(x, "topk_sae", 64, k=8). validation: held-out activations scored into the metrics (val_*).
        paired: the second modality's rows for "cocca"/"scocca" (row i pairs with row i of activations; an array
        or a stored activations artifact, tensor paired_tensor), e.g. fit(images, "scocca", 16, paired=captions)."""
        cfg = discovery_pb2.FitConfig(seed=seed, skip_stability=not stability, paired_tensor=paired_tensor)
        cfg.dictionaries.add(method=method, n_concepts=n_concepts, options=_options(options), name=name)
        if validation is not None:
            cfg.validation.CopyFrom(self._activations_ref(validation).ref)
        if paired is not None:
            cfg.paired_activations.CopyFrom(self._activations_ref(paired).ref)
        x = None
        if isinstance(activations, np.ndarray):
            x = np.asarray(activations, np.float32)
        else:
            cfg.activations.CopyFrom(self._ref(activations))

        def requests():
            yield discovery_pb2.FitRequest(config=cfg)
            if x is not None:
                for b in to_blocks(x, "activations", self.block_bytes):
                    yield discovery_pb2.FitRequest(block=b)

        result = self._job(self._discovery.Fit(requests(), timeout=self.timeout), f"fit {method}", progress)
        return Dictionary(self, Artifact(self, result.artifact.ref, result.artifact), name, result.metrics)

    # ---- bottleneck models and explanations ---------------------------------------------------------

    def train(self, features, labels, model_type="linear_probe", concept_bank=None, concept_labels=None, concept_names=(),
              class_names=(), eval_features=None, eval_labels=None, seed=0, progress=False, **options):
        """Trains an interpretable classifier (ListMethods family "bottleneck_model": "linear_probe", "sparse_probe",
        "cbm", "pcbm", "pcbm_h", ...) on features [N, D] and int labels [N]; concept_bank [K, D] or concept_labels
        [N, K] with K concept_names where the type needs them. Returns a Bottleneck."""
        blocks = [("features", np.asarray(features, np.float32)), ("labels", np.asarray(labels).astype(np.int64))]
        for name, a, dt in (("concept_bank", concept_bank, np.float32), ("concept_labels", concept_labels, np.float32),
                            ("eval_features", eval_features, np.float32), ("eval_labels", eval_labels, np.int64)):
            if a is not None:
                blocks.append((name, np.asarray(a).astype(dt)))
        cfg = bottleneck_pb2.TrainConfig(model_type=model_type, options=_options(options), concept_names=list(concept_names),
                                         class_names=list(class_names), seed=seed)

        def requests():
            yield bottleneck_pb2.TrainRequest(config=cfg)
            for name, a in blocks:
                for b in to_blocks(a, name, self.block_bytes):
                    yield bottleneck_pb2.TrainRequest(block=b)

        result = self._job(self._bottleneck.Train(requests(), timeout=self.timeout), f"train {model_type}", progress)
        return Bottleneck(self, Artifact(self, result.artifact.ref, result.artifact), result.metrics)

    def explain(self, model, x, targets=None, method="sobol", seed=0, **options):
        """Local concept importances φ float32 [N, K] of a Bottleneck's concepts for each row's target logit
        (default: its predicted class), by `method` (ListMethods family "importance") and its options."""
        x = np.asarray(x, np.float32)
        t = model.predict(x)["predictions"] if targets is None else np.asarray(targets).astype(np.int64)
        importance = explain_pb2.ImportanceSettings(method=method, seed=seed, options=_options(options))
        out = from_blocks(stream(self._explain.ConceptImportance(explain_requests(model, x, t, importance), timeout=self.timeout)))
        return out["importance"]

    # ---- workflows ---------------------------------------------------------------------------------

    def run_workflow(self, workflow, progress=True, detach=False, **params):
        """Runs a built-in workflow by name (DescribeWorkflows) or a spec {"name", "steps": [{"name", "method",
        "stage", "inputs", "options"}], "defaults"} with parameters as keywords, showing its steps as they finish
        (a tqdm bar when tqdm is installed, plain lines otherwise). Returns the finished Workflow; a failed or
        cancelled one raises WorkflowError naming the step, its status and field."""
        req = gateway_pb2.RunWorkflowRequest(parameters=_options(params), detach=detach)
        if isinstance(workflow, str):
            req.builtin = workflow
            label = workflow
        else:
            spec = workflow if isinstance(workflow, gateway_pb2.WorkflowSpec) else _spec(workflow)
            req.spec.CopyFrom(spec)
            label = spec.name or "workflow"
        return self._follow(self._gateway.RunWorkflow(req, timeout=self.timeout), label, progress)

    def _follow(self, call, label, progress):
        bar, final, seen = None, None, set()

        def finished(step, note=""):
            seen.add(step.name)
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(step.metrics.items())[:4])
            bar.advance(1, f"{step.name} {gateway_pb2.WorkflowState.Name(step.state)[15:].lower()}{note}" + (f" ({shown})" if shown else ""))

        try:
            for e in stream(call):
                kind = e.WhichOneof("event")
                if kind == "snapshot":
                    steps = e.snapshot.steps or e.snapshot.spec.steps
                    bar = Progress(len(steps), f"{label} {e.workflow_id}", progress)
                    for s in e.snapshot.steps:  # finished in an earlier run: replayed, not recomputed
                        if s.state == gateway_pb2.WORKFLOW_STATE_SUCCEEDED:
                            finished(s, ", earlier run")
                elif bar is None:
                    bar = Progress(0, label, progress)
                if kind == "step_started":
                    bar.status(f"{e.step_started.step} ({e.step_started.method})")
                elif kind == "step_progress":
                    p = e.step_progress.progress
                    bar.status(f"{e.step_progress.step}: {p.phase} {p.done}/{p.total or '?'} {p.unit}".strip())
                elif kind == "step_finished" and e.step_finished.name not in seen:
                    finished(e.step_finished)
                elif kind == "finished":
                    final = e.finished
                    for s in final.steps:
                        if s.name not in seen and s.state not in (gateway_pb2.WORKFLOW_STATE_PENDING, gateway_pb2.WORKFLOW_STATE_UNSPECIFIED):
                            finished(s)
        finally:
            if bar is not None:
                bar.close()
        if final is None:
            raise SuiteError(grpc.StatusCode.UNKNOWN, f"workflow {label}: the stream ended before the workflow finished")
        if final.state != gateway_pb2.WORKFLOW_STATE_SUCCEEDED:
            failed = next((s for s in final.steps if s.error and s.error != "cancelled"), None)
            if failed is None:
                raise WorkflowError(final, "", SuiteError(grpc.StatusCode.CANCELLED if final.state == gateway_pb2.WORKFLOW_STATE_CANCELLED
                                                          else grpc.StatusCode.UNKNOWN, final.error))
            raise WorkflowError(final, failed.name, SuiteError.from_step(failed.error))
        return Workflow(self, final)

    def workflow(self, workflow_id):
        """A workflow's current state (GetWorkflow) as a Workflow."""
        with translated():
            return Workflow(self, self._gateway.GetWorkflow(gateway_pb2.GetWorkflowRequest(id=workflow_id), timeout=self.timeout))

    def atlas(self, workflow_id, path=None):
        """The concept atlas of a workflow (the HTML its atlas.render step stored); written to `path` when given."""
        w = self.workflow(workflow_id.id if isinstance(workflow_id, Workflow) else workflow_id)
        refs = [r for s in w.info.steps if s.state == gateway_pb2.WORKFLOW_STATE_SUCCEEDED for r in s.outputs.values() if r.kind == "atlas"]
        if not refs:
            raise SuiteError(grpc.StatusCode.NOT_FOUND, f"workflow_id: workflow {w.id} has no atlas (no finished atlas.render step)")
        html = self.arrays(refs[-1].id, "html")["html"].tobytes().decode("utf-8")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(html)
        return html

    def _pages(self, rpc, request, field):
        """The items of a paged listing (`field` of each response), page after page as the caller iterates."""
        while True:
            with translated():
                r = rpc(request, timeout=self.timeout)
            yield from getattr(r, field)
            if not r.next_page_token:
                return
            request.page_token = r.next_page_token

    def workflows(self, state=0, page_size=0):
        """Every workflow (or those in `state`, a WorkflowState number), newest first: Workflow objects,
        read page by page (ListWorkflows page_size, 0 for the server's default) as the caller iterates."""
        request = gateway_pb2.ListWorkflowsRequest(state=state, page_size=page_size)
        return (Workflow(self, w) for w in self._pages(self._gateway.ListWorkflows, request, "workflows"))

    def artifacts(self, kind="", page_size=0):
        """Every artifact the gateway reaches (or those of `kind`), oldest first: Artifact objects with
        their info, read page by page (ListArtifacts page_size, 0 for the server's default)."""
        request = artifact_pb2.ListArtifactsRequest(kind=kind, page_size=page_size)
        return (Artifact(self, a.ref, a) for a in self._pages(self._gateway.ListArtifacts, request, "artifacts"))

    # ---- catalogue ---------------------------------------------------------------------------------

    def methods(self, family=""):
        """Every method of every family the server offers (or of one family): [Method]."""
        with translated():
            r = self._gateway.ListMethods(methods_pb2.ListMethodsRequest(family=family), timeout=self.timeout)
        return [Method(f.name, f.stage, m.name, m.description, m.paper,
                       {o.name: {"type": o.type, "default": o.default_value, "min": o.min, "max": o.max, "choices": list(o.choices),
                                 "description": o.description} for o in m.options}, dict(m.traits))
                for f in r.families for m in f.methods]


def _spec(d):
    spec = gateway_pb2.WorkflowSpec(name=d.get("name", ""), defaults=_options(d.get("defaults", {})))
    for s in d["steps"]:
        spec.steps.add(name=s["name"], method=s["method"], stage=s.get("stage", ""), inputs=dict(s.get("inputs", {})),
                       options=_options(s.get("options", {})))
    return spec
