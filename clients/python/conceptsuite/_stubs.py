"""The generated gRPC modules (conceptsuite.v1), with one message saying how to make them."""
try:
    from .v1 import (artifact_pb2, artifact_pb2_grpc, bottleneck_pb2, bottleneck_pb2_grpc, discovery_pb2, discovery_pb2_grpc,  # noqa: F401
                     embedding_pb2, embedding_pb2_grpc, explain_pb2, explain_pb2_grpc, gateway_pb2, gateway_pb2_grpc,
                     methods_pb2, tensor_pb2, tensor_pb2_grpc)
except ImportError as e:  # stubs not generated yet
    raise ImportError("conceptsuite: the gRPC stubs (conceptsuite.v1) are missing; install the package "
                      "(pip install --no-build-isolation -e clients/python) or run clients/python/generate.sh") from e
