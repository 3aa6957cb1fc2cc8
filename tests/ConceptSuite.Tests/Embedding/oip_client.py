"""Open Inference Protocol v2 client check: stubs are generated from protos/inference/v2/grpc_service.proto
with grpc_tools (Debian python3-grpc-tools) into a temporary folder, then the running server is called.
usage: oip_client.py <repo root> <host:port> <images.bin: uint8 [2,1,28,28]>; prints JSON."""
import json, os, struct, subprocess, sys, tempfile

root, address, images_path = sys.argv[1], sys.argv[2], sys.argv[3]
out = tempfile.mkdtemp(prefix="oip-stubs-")
subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(root, "protos"),
                       "--python_out", out, "--grpc_python_out", out, "inference/v2/grpc_service.proto"])
sys.path.insert(0, out)
import grpc
from inference.v2 import grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc

stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
result = {}
result["live"] = stub.ServerLive(pb.ServerLiveRequest()).live
result["ready"] = stub.ServerReady(pb.ServerReadyRequest()).ready
result["model_ready"] = stub.ModelReady(pb.ModelReadyRequest(name="resnet18")).ready
meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="resnet18"))
result["platform"] = meta.platform
result["outputs"] = {o.name: list(o.shape) for o in meta.outputs}
raw = open(images_path, "rb").read()
request = pb.ModelInferRequest(model_name="resnet18", id="req-1",
    inputs=[pb.ModelInferRequest.InferInputTensor(name="images", datatype="UINT8", shape=[2, 1, 28, 28])],
    outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="pool")],
    raw_input_contents=[raw])
response = stub.ModelInfer(request)
o = response.outputs[0]
values = struct.unpack("<%df" % (len(response.raw_output_contents[0]) // 4), response.raw_output_contents[0])
result["id"] = response.id
result["output"] = {"name": o.name, "datatype": o.datatype, "shape": list(o.shape), "values": list(values)}
try:
    stub.ModelInfer(pb.ModelInferRequest(model_name="no-such-model"))
except grpc.RpcError as e:
    result["unknown_model"] = e.code().name
print(json.dumps(result))
