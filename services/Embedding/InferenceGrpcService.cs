using System.Runtime.InteropServices;
using ConceptSuite.Contracts;
using ConceptSuite.Contracts.Inference;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Images;
using ConceptSuite.Embedding.Models;
using Google.Protobuf;
using Grpc.Core;
using TorchSharp;

namespace ConceptSuite.Embedding;

/// <summary>
/// Open Inference Protocol v2 (inference.GRPCInferenceService) over the image backbones: one input
/// (any name) UINT8 or FP32 [N, C, H, W] in 0-255, resized and channel-converted like EmbedImages;
/// one FP32 output per requested tap (default: the model's first tap). Runs through the same
/// micro-batcher as EmbedImages.
/// </summary>
public sealed class InferenceGrpcService(ModelRegistry registry) : GRPCInferenceService.GRPCInferenceServiceBase
{
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = true });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerMetadataResponse { Name = "conceptsuite-embedding", Version = "1" });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        if (!registry.ImageModelNames().Contains(request.Name)) throw new NotFoundException("model (name)", request.Name);
        using (registry.Acquire(request.Name, "name")) { }
        return Task.FromResult(new ModelReadyResponse { Ready = true });
    }

    static string Platform(IBackbone b) => b.Kind switch
    {
        "onnx" => "onnxruntime_onnx",
        "torchscript" => "pytorch_libtorch",
        _ => "torchsharp",
    };

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        using var model = registry.Acquire(request.Name, "name");
        var b = model.Value.Backbone;
        var r = new ModelMetadataResponse { Name = b.Name, Platform = Platform(b) };
        r.Versions.Add(b.Version);
        var input = new ModelMetadataResponse.Types.TensorMetadata { Name = "images", Datatype = "FP32" };
        input.Shape.Add([-1, b.Input.Channels, b.Input.Height, b.Input.Width]);
        r.Inputs.Add(input);
        foreach (var tap in b.Taps)
        {
            var o = new ModelMetadataResponse.Types.TensorMetadata { Name = tap.Name, Datatype = "FP32" };
            o.Shape.Add(-1);
            o.Shape.Add(tap.Shape);
            r.Outputs.Add(o);
        }
        return Task.FromResult(r);
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        using var model = registry.Acquire(request.ModelName, "model_name");
        var b = model.Value.Backbone;
        if (!string.IsNullOrEmpty(request.ModelVersion) && request.ModelVersion != b.Version)
            throw new NotFoundException($"version of model {b.Name} (model_version)", request.ModelVersion);
        if (request.Inputs.Count != 1) throw new InvalidInputException("inputs", $"model takes exactly one input, got {request.Inputs.Count}");
        var taps = b.Resolve(request.Outputs.Select(o => o.Name).ToList(), "outputs");
        var pixels = ReadInput(request, b);
        var outs = await model.Value.Batcher.RunAsync(pixels, taps, context.CancellationToken);
        var response = new ModelInferResponse { ModelName = b.Name, ModelVersion = b.Version, Id = request.Id };
        try
        {
            foreach (var tap in taps)
            {
                var t = outs[tap];
                var o = new ModelInferResponse.Types.InferOutputTensor { Name = tap, Datatype = "FP32" };
                o.Shape.Add(t.shape);
                response.Outputs.Add(o);
                response.RawOutputContents.Add(ByteString.CopyFrom(t.bytes));
            }
        }
        finally { foreach (var t in outs.Values) t.Dispose(); }
        return response;
    }

    /// <summary>The request's one input as conformed float32 pixels [N, C, H, W].</summary>
    static torch.Tensor ReadInput(ModelInferRequest request, IBackbone b)
    {
        var input = request.Inputs[0];
        const string f = "inputs[0]";
        var dtype = input.Datatype switch
        {
            "UINT8" => DType.Uint8,
            "FP32" => DType.Float32,
            _ => throw new InvalidInputException(f + ".datatype", $"must be UINT8 or FP32, got '{input.Datatype}'"),
        };
        if (input.Shape.Count != 4) throw new InvalidInputException(f + ".shape", $"must be [N, C, H, W], got [{string.Join(", ", input.Shape)}]");
        if (input.Shape[0] < 1) throw new InvalidInputException(f + ".shape", "N must be >= 1");
        var wire = new ConceptSuite.Contracts.Tensor { Dtype = dtype };
        wire.Shape.Add(input.Shape);
        if (request.RawInputContents.Count > 0)
        {
            if (request.RawInputContents.Count != 1) throw new InvalidInputException("raw_input_contents", "must hold exactly one entry per input");
            if (input.Contents is not null) throw new InvalidInputException(f + ".contents", "must be empty when raw_input_contents is used");
            wire.Data = request.RawInputContents[0];
        }
        else if (input.Contents is { } c)
        {
            wire.Data = dtype == DType.Float32
                ? ByteString.CopyFrom(MemoryMarshal.AsBytes(c.Fp32Contents.ToArray().AsSpan()))
                : ByteString.CopyFrom(c.UintContents.Select(v => v <= 255 ? (byte)v : throw new InvalidInputException(f + ".contents.uint_contents", $"value {v} exceeds 255")).ToArray());
        }
        else throw new InvalidInputException(f, "has no data (contents or raw_input_contents)");
        DTypes.Validate(wire, f);
        if (dtype == DType.Float32) TensorStreamValidator.CheckFinite(wire, f + ".data");
        return TensorScope.Keep(() => ImageConform.ToModelInput(TensorCodec.ToTorch(wire, f), b.Input.Channels, b.Input.Height, b.Input.Width, f + ".shape"));
    }
}
