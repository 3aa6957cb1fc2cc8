"""What Suite calls return: stored artifacts, dictionaries, bottleneck models, workflows, methods."""
import json
from collections import namedtuple

import numpy as np

from ._stubs import artifact_pb2, bottleneck_pb2, discovery_pb2, explain_pb2, gateway_pb2
from .errors import stream, translated
from .tensors import from_blocks, to_blocks

ConceptName = namedtuple("ConceptName", "concept name similarity alternatives top_rows")
ConceptName.__doc__ = "A concept's best word, its cosine similarity, the next best (word, similarity) pairs, top sample rows."
Method = namedtuple("Method", "family stage name description paper options traits")
Method.__doc__ = "A method of a family (ListMethods): options maps each option name to its schema (type, default, min, max, choices)."


def _options(options):
    """Method options as the wire's map<string, string>: bools as true/false, numbers as decimal text."""
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in options.items()}


def _state(value):
    return gateway_pb2.WorkflowState.Name(value).replace("WORKFLOW_STATE_", "").lower()


class Artifact:
    """A stored artifact: id (64 hex characters), kind, and its info (ArtifactInfo) when known."""

    def __init__(self, suite, ref, info=None):
        self._suite = suite
        self.id = ref.id
        self.kind = ref.kind
        self.info = info

    @property
    def ref(self):
        return artifact_pb2.ArtifactRef(id=self.id, kind=self.kind)

    @property
    def metadata(self):
        """The producer's JSON metadata, parsed."""
        if self.info is None:
            with translated():
                self.info = self._suite._gateway_store_info(self.id)
        return json.loads(self.info.metadata_json or "{}")

    def arrays(self, *names):
        """The artifact's tensors (all, or the named ones) as {name: ndarray}."""
        return self._suite.arrays(self, *names)

    def __repr__(self):
        return f"Artifact({self.kind}, {self.id[:16]})"


class Dictionary:
    """A trained concept dictionary A ≈ U·W: encode activations to codes U, decode codes to activations,
    the atoms W [C, D], the fit's metrics (r2, mse, l0, dead_fraction, ...), names for its concepts."""

    def __init__(self, suite, artifact, name="", job_metrics=None):
        self._suite = suite
        self.artifact = artifact
        self.ref = discovery_pb2.DictionaryRef(artifact=artifact.ref, name=name)
        self.job_metrics = dict(job_metrics or {})
        self._info = None
        self._atoms = None
        self.names = None
        self.bridge_r2 = None

    def _load(self):
        if self._info is None:
            req = discovery_pb2.GetDictionaryRequest(dictionary=self.ref)
            msgs = list(stream(self._suite._discovery.GetDictionary(req, timeout=self._suite.timeout)))
            self._info = msgs[0].info
            self._atoms = from_blocks(m.block for m in msgs[1:])["atoms"]
        return self._info

    @property
    def info(self):
        """DictionaryInfo: name, method, n_concepts, input_dim, options, metrics, seed."""
        return self._load()

    @property
    def atoms(self):
        """The atoms W as float32 [C, D]."""
        self._load()
        return self._atoms

    @property
    def metrics(self):
        """The fit's metrics by name (r2, mse, l0, dead_fraction, ..., and val_* with validation data)."""
        return dict(self._load().metrics)

    @property
    def n_concepts(self):
        return self._load().n_concepts

    def _map(self, rpc, request, config, x, field, modality=""):
        x = np.asarray(x, dtype=np.float32)

        def requests():
            yield request(config=config(dictionary=self.ref, modality=modality))
            for b in to_blocks(x, field, self._suite.block_bytes):
                yield request(block=b)

        out = from_blocks(stream(rpc(requests(), timeout=self._suite.timeout)))
        return next(iter(out.values())) if out else np.zeros((0,), np.float32)

    def encode(self, activations, modality=""):
        """Activations [N, D] (or [N, C, H, W] / [N, T, D]) → codes float32 [N, C] (spatial shapes kept).
        modality="paired": rows of the paired modality of a cocca/scocca dictionary (e.g. caption embeddings)."""
        return self._map(self._suite._discovery.Encode, discovery_pb2.EncodeRequest, discovery_pb2.EncodeConfig, activations, "activations", modality)

    def decode(self, codes, modality=""):
        """Codes [N, C] → reconstructed activations float32 [N, D] (modality="paired": the paired modality's rows)."""
        return self._map(self._suite._discovery.Decode, discovery_pb2.DecodeRequest, discovery_pb2.DecodeConfig, codes, "codes", modality)

    def name(self, words, images=None, captions=None, bridge=None, alternatives=4, activations=None, top_examples=8):
        """Names every concept by the nearest word of `words` (embedded with MiniLM) to its text direction: with
        pairs (image activations [N, D] and N caption texts), the covariance of the concept's code with the caption
        embeddings (a ridge bridge is fitted and stored beside); with a stored bridge artifact, the atom mapped
        through it. Returns [ConceptName], also kept in .names (and the bridge's R² in .bridge_r2)."""
        s = self._suite
        words = list(words)
        vocab = s.put("embeddings", {"embeddings": s.embed_text(words)}, metadata={"words": words})
        req = discovery_pb2.NameConceptsRequest(dictionary=self.ref, vocabulary=vocab.ref, alternatives=alternatives,
                                                top_examples=top_examples if activations is not None else 0)
        if bridge is not None:
            req.bridge_artifact.CopyFrom(s._ref(bridge))
        else:
            if images is None or captions is None:
                raise ValueError("bridge: give a stored bridge, or images (activations [N, D]) and N captions to fit one")
            acts = s._activations_ref(images)
            caps = s.put("embeddings", {"embeddings": s.embed_text(list(captions))}, metadata={"words": list(captions)})
            req.bridge_pairs.CopyFrom(discovery_pb2.BridgePairs(image_activations=acts.ref, caption_embeddings=caps.ref))
        if activations is not None:
            req.activations.CopyFrom(s._activations_ref(activations).ref)
        with translated():
            r = s._discovery.NameConcepts(req, timeout=s.timeout)
        self.bridge_r2 = r.bridge_r2
        self.names = [ConceptName(c.concept, c.name, c.similarity, [(a.word, a.similarity) for a in c.alternatives], list(c.top_rows))
                      for c in r.concepts]
        return self.names

    def __repr__(self):
        return f"Dictionary({self.artifact.id[:16]}{'/' + self.ref.name if self.ref.name else ''})"


class Bottleneck:
    """A trained interpretable classifier (x [N, D] → concepts [N, K] → logits [N, C])."""

    def __init__(self, suite, artifact, job_metrics=None):
        self._suite = suite
        self.artifact = artifact
        self.job_metrics = dict(job_metrics or {})
        self._info = None

    @property
    def info(self):
        """BottleneckModelInfo: model_type, input_dim, concept_names, class_names, metrics, edits, spec_json."""
        if self._info is None:
            with translated():
                self._info = self._suite._bottleneck.GetModel(bottleneck_pb2.GetBottleneckModelRequest(model=self.artifact.ref),
                                                              timeout=self._suite.timeout)
        return self._info

    @property
    def metrics(self):
        """Metrics measured at training time (accuracy, eval_accuracy with eval data, ...)."""
        return dict(self.info.metrics)

    @property
    def concept_names(self):
        return list(self.info.concept_names)

    def predict(self, x, inputs_are_concepts=False):
        """{"logits": [N, C], "concepts": [N, K], "predictions": int64 [N]} for inputs x [N, D]."""
        x = np.asarray(x, dtype=np.float32)
        s = self._suite

        def requests():
            yield bottleneck_pb2.PredictRequest(config=bottleneck_pb2.PredictConfig(model=self.artifact.ref, inputs_are_concepts=inputs_are_concepts))
            for b in to_blocks(x, "", s.block_bytes):
                yield bottleneck_pb2.PredictRequest(block=b)

        return from_blocks(m.block for m in stream(s._bottleneck.Predict(requests(), timeout=s.timeout)))

    def explain(self, x, targets=None, method="sobol", seed=0, **options):
        """Local concept importances φ float32 [N, K] of each row's target logit (default: the predicted class),
        by an importance estimator (ListMethods family "importance") with its options."""
        return self._suite.explain(self, x, targets=targets, method=method, seed=seed, **options)

    def __repr__(self):
        return f"Bottleneck({self.artifact.id[:16]})"


class Workflow:
    """A finished workflow: id, name, state, and per step its state, metrics and output artifacts."""

    def __init__(self, suite, info):
        self._suite = suite
        self.info = info
        self.id = info.id
        self.name = info.name
        self.state = _state(info.state)

    @property
    def steps(self):
        """{step name: {"method", "state", "metrics", "outputs" ({name: Artifact}), "reused"}} in run order."""
        return {s.name: {"method": s.method, "state": _state(s.state), "metrics": dict(s.metrics), "reused": s.reused,
                         "outputs": {k: Artifact(self._suite, v) for k, v in s.outputs.items()}} for s in self.info.steps}

    @property
    def metrics(self):
        """{step name: {metric: value}} for the steps that reported metrics."""
        return {s.name: dict(s.metrics) for s in self.info.steps if s.metrics}

    def output(self, step, name):
        """The artifact a step produced under `name`."""
        return Artifact(self._suite, next(s for s in self.info.steps if s.name == step).outputs[name])

    def atlas(self, path=None):
        return self._suite.atlas(self.id, path)

    def __repr__(self):
        return f"Workflow({self.name}, {self.id}, {self.state})"


def explain_requests(model, x, targets, importance):
    yield explain_pb2.ConceptImportanceRequest(config=explain_pb2.ConceptImportanceConfig(importance=importance, model=model.artifact.ref))
    yield from (explain_pb2.ConceptImportanceRequest(block=b) for b in to_blocks(x, "inputs", model._suite.block_bytes))
    yield from (explain_pb2.ConceptImportanceRequest(block=b) for b in to_blocks(targets, "targets", model._suite.block_bytes))
