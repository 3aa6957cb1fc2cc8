"""ConceptSuite's Python client: numpy in, numpy out.

    from conceptsuite import Suite
    suite = Suite("127.0.0.1:50051")
    acts = suite.embed(images, model="resnet18", tap="pool")
    sae = suite.fit(acts, method="topk_sae", n_concepts=32, k=4)
    codes = sae.encode(acts)
"""
from .errors import SuiteError, WorkflowError
from .results import Artifact, Bottleneck, ConceptName, Dictionary, Method, Workflow
from .suite import Suite, channel
from .tensors import from_blocks, images_nchw, to_blocks

__all__ = ["Suite", "SuiteError", "WorkflowError", "Artifact", "Dictionary", "Bottleneck", "Workflow", "Method", "ConceptName",
           "channel", "to_blocks", "from_blocks", "images_nchw"]
