"""Compiles protos/conceptsuite/v1/*.proto into the Python modules conceptsuite.v1.*_pb2(_grpc).

Used by setup.py (at install time) and generate.sh. The generated modules are not committed.
Usage: python3 build_stubs.py [OUT_ROOT]   (default: this folder, i.e. conceptsuite/v1/ beside it)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def protos_root():
    """The repository's protos/ folder (CONCEPTSUITE_PROTOS overrides it)."""
    root = os.environ.get("CONCEPTSUITE_PROTOS") or os.path.join(HERE, "..", "..", "protos")
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, "conceptsuite", "v1")):
        raise SystemExit(f"build_stubs: no conceptsuite/v1 protos under {root} (set CONCEPTSUITE_PROTOS)")
    return root


def generate(out_root=HERE):
    """Writes OUT_ROOT/conceptsuite/v1/*_pb2.py, *_pb2_grpc.py and an __init__.py; returns the file count."""
    try:
        from grpc_tools import protoc
    except ImportError as e:
        raise SystemExit("build_stubs: needs grpc_tools (Debian: python3-grpc-tools; scripts/prereqs.sh installs it)") from e
    import pkg_resources  # grpc_tools' bundled google/protobuf/*.proto
    root = protos_root()
    protos = sorted(os.path.join("conceptsuite", "v1", f) for f in os.listdir(os.path.join(root, "conceptsuite", "v1"))
                    if f.endswith(".proto"))
    out = os.path.join(out_root, "conceptsuite", "v1")
    os.makedirs(out, exist_ok=True)
    well_known = pkg_resources.resource_filename("grpc_tools", "_proto")
    args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}", f"--python_out={out_root}", f"--grpc_python_out={out_root}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit(f"build_stubs: protoc failed on {root}")
    with open(os.path.join(out, "__init__.py"), "w", encoding="utf-8") as f:
        f.write('"""Generated from protos/conceptsuite/v1 by clients/python/build_stubs.py; not committed."""\n')
    return len(protos)


if __name__ == "__main__":
    target = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else HERE
    n = generate(target)
    print(f"generated {n} protos into {os.path.join(target, 'conceptsuite', 'v1')}")
