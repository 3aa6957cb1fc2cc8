"""End-to-end check of file imports with the installed package: python check_datasets.py ADDRESS FOLDER NPY_DIR.

FOLDER is an image folder (one subfolder per class) and NPY_DIR holds images.npy [N, H, W, C] with labels.npy;
both are imported (their artifact ids are printed, for comparison with the `concept import` of the same files),
then the same arrays as .npz and as safetensors, which must give the same artifact as the .npy. Hostile files must
fail here, before any call, with a message naming the file; the server must keep serving.
"""
import json
import os
import sys
import tempfile

import numpy as np

from conceptsuite import Suite, SuiteError
from conceptsuite.datasets import read_path


def expect_error(what, fn, *needles):
    try:
        fn()
    except (ValueError, SuiteError) as e:
        text = str(e)
        missing = [n for n in needles if n not in text]
        if missing:
            raise AssertionError(f"{what}: error lacks {missing}: {text}")
        return text
    raise AssertionError(f"{what}: no error")


def main(address, folder, npy_dir):
    suite = Suite(address)
    imported = suite.import_path(folder)
    print(f"folder artifact {imported.id}")
    images = os.path.join(npy_dir, "images.npy")
    from_npy = suite.import_path(images, name="arrays")
    print(f"npy artifact {from_npy.id}")
    x, y = np.load(images), np.load(os.path.join(npy_dir, "labels.npy"))

    with tempfile.TemporaryDirectory() as tmp:
        # The same arrays as .npz (float 0-1, channels-first, int32 labels) and as safetensors: the same artifact.
        npz = os.path.join(tmp, "arrays.npz")
        np.savez_compressed(npz, images=x.transpose(0, 3, 1, 2).astype(np.float32) / 255, labels=y.astype(np.int32))
        assert suite.import_path(npz, name="arrays").id == from_npy.id, "npz and npy differ"
        st = os.path.join(tmp, "arrays.safetensors")
        tensors = {"images": x, "labels": y.astype(np.int64)}
        header, offset = {}, 0
        for k, a in tensors.items():
            header[k] = {"dtype": {"uint8": "U8", "int64": "I64"}[a.dtype.name], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
            offset += a.nbytes
        blob = json.dumps(header).encode()
        with open(st, "wb") as f:
            f.write(len(blob).to_bytes(8, "little") + blob + b"".join(a.tobytes() for a in tensors.values()))
        assert suite.import_path(st, name="arrays").id == from_npy.id, "safetensors and npy differ"
        print("npz and safetensors: same artifact as the npy")

        # An ambiguous [N, 3, 3, 3] array: channels-first by the documented rule, channels-last when told.
        cube = (np.arange(54) % 256).astype(np.uint8).reshape(2, 3, 3, 3)
        np.save(os.path.join(tmp, "cube.npy"), cube)
        np.save(os.path.join(tmp, "labels.npy"), np.array([1, 0]))
        auto = read_path(os.path.join(tmp, "cube.npy")).images
        nhwc = read_path(os.path.join(tmp, "cube.npy"), layout="nhwc").images
        assert np.array_equal(auto, cube) and np.array_equal(nhwc, cube.transpose(0, 3, 1, 2)), "layouts"
        print("layouts: [2, 3, 3, 3] auto is channels-first, layout='nhwc' channels-last")

        # Hostile files: refused here, naming the file.
        bad = os.path.join(tmp, "bad")
        os.mkdir(bad)
        np.save(os.path.join(bad, "images.npy"), x)
        np.save(os.path.join(bad, "labels.npy"), y.astype(np.float32))
        expect_error("float labels", lambda: suite.import_path(os.path.join(bad, "images.npy")), "labels are float32", "labels.npy")
        np.save(os.path.join(bad, "short.npy"), y[:-1])
        expect_error("label count", lambda: suite.import_path(os.path.join(bad, "images.npy"), labels=os.path.join(bad, "short.npy")),
                     f"{len(y) - 1} labels for {len(y)} images")
        corrupt = os.path.join(bad, "corrupt.npy")
        with open(corrupt, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'  \n")
        expect_error("corrupt header", lambda: suite.import_path(corrupt, labels=os.path.join(npy_dir, "labels.npy")), "corrupt.npy", "corrupt .npy header")
        huge = os.path.join(bad, "huge.npy")
        with open(huge, "wb") as f:
            head = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 64, 64), }"
            head += " " * (63 - len(head) % 64) + "\n"
            f.write(b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head.encode("latin1") + b"\0" * 64)
        expect_error("huge shape", lambda: suite.import_path(huge), "huge.npy", "over the import limit")
        np.save(os.path.join(bad, "objects.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
        expect_error("object dtype", lambda: suite.import_path(os.path.join(bad, "objects.npy")), "objects.npy", "not supported")
        np.save(os.path.join(bad, "five.npy"), np.zeros((2, 1, 3, 4, 4), np.uint8))
        expect_error("5-D images", lambda: suite.import_path(os.path.join(bad, "five.npy")), "five.npy", "must be [N, H, W]")
        print("hostile files: float labels, label count, corrupt header, huge shape, object dtype, 5-D images refused before any call")

    # An undecodable file in a folder: the server refuses it, the client names the file; the server keeps serving.
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "a"))
        with open(os.path.join(tmp, "a", "broken.png"), "wb") as f:
            f.write(b"\x89PNG not really")
        e = expect_error("undecodable image", lambda: suite.import_path(tmp), "INVALID_ARGUMENT", "broken.png")
        print(f"undecodable image: {e.splitlines()[0][:60]}")
    assert suite.import_path(folder).id == imported.id
    print("file imports: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
