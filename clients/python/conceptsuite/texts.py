"""Text corpora for ConceptSuite: read here, streamed to the server (which never opens a client's path).

A file holds one example per line (blank lines skipped, label 0), or JSON Lines (".jsonl"/".ndjson":
one object per line with "text" and an optional "label", an integer or a class name; names are numbered
in order of first appearance). Bytes must be UTF-8; a bad line raises ValueError naming the file and line.
"""
import json
import os

from ._stubs import embedding_pb2
from .errors import translated
from .progress import Progress


def read_texts(path):
    """(texts, labels, class_names) of a corpus file."""
    path = os.fspath(path)
    is_json = path.lower().endswith((".jsonl", ".ndjson"))
    texts, labels, classes, index, named = [], [], [], {}, None
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise ValueError(f"{path}:{number}: not valid UTF-8") from None
        if not line.strip():
            continue
        if not is_json:
            texts.append(line)
            labels.append(0)
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f'{path}:{number}: needs a string field "text"')
        label = row.get("label")
        if label is None:
            label = 0
        else:
            is_name = isinstance(label, str)
            if not is_name and not (isinstance(label, int) and not isinstance(label, bool) and label >= 0):
                raise ValueError(f'{path}:{number}: "label" must be a class name or an integer >= 0')
            if named is not None and named != is_name:
                raise ValueError(f"{path}:{number}: labels mix class names and numbers")
            named = is_name
            if is_name:
                if label not in index:
                    index[label] = len(classes)
                    classes.append(label)
                label = index[label]
        texts.append(row["text"])
        labels.append(label)
    if not texts:
        raise ValueError(f"{path}: has no texts")
    return texts, labels, classes


def import_text(suite, path_or_list, labels=None, name="", class_names=(), progress=False):
    """Stores texts as a "texts" artifact (the input of the text-features workflow); returns the Artifact.
    path_or_list: a corpus file (see read_texts) or a list of strings (labels: ints, one per text)."""
    from .results import Artifact

    if isinstance(path_or_list, (str, os.PathLike)):
        texts, file_labels, classes = read_texts(path_or_list)
        labels = file_labels if labels is None else labels
        class_names = class_names or classes
        name = name or os.path.splitext(os.path.basename(os.fspath(path_or_list)))[0]
    else:
        texts = list(path_or_list)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts: give a file or a non-empty list of strings")
    labels = [0] * len(texts) if labels is None else [int(x) for x in labels]
    if len(labels) != len(texts):
        raise ValueError(f"labels: {len(labels)} for {len(texts)} texts")
    header = embedding_pb2.ImportDatasetHeader(name=name or "texts", class_names=list(class_names))
    bar = Progress(len(texts), "import texts", progress, unit="text")

    def requests():
        yield embedding_pb2.ImportDatasetRequest(header=header)
        for t, y in zip(texts, labels):
            yield embedding_pb2.ImportDatasetRequest(text=embedding_pb2.LabelledText(text=t, label=y))
            bar.advance()

    try:
        with translated():
            info = suite._embedding.ImportDataset(requests(), timeout=suite.timeout)
    finally:
        bar.close()
    return Artifact(suite, info.ref, info)
