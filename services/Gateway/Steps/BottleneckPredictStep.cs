using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// BottleneckService.Predict: streams an activation artifact from the store through a stored
/// bottleneck model block by block and keeps the predicted classes as a "report" artifact
/// (tensor "predictions" int64 [N]; metadata {"type": "predictions", "model", "activations"}).
/// With labels in the activation artifact the step reports accuracy = mean(prediction = label).
/// </summary>
public sealed class BottleneckPredictStep(ActivationTensorOptions options) : IStepExecutor
{
    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var source = ctx.Input("activations");
        var tensor = options.Tensor;
        var (info, _) = await ArtifactTransfer.SourceAsync(ctx.StoreChannel, source, tensor, ctx.OptionField("tensor"), ct);
        long[]? labels = info.Tensors.Any(t => t.Name == "labels")
            ? (await ArtifactTransfer.ReadSmallAsync(ctx.StoreChannel, source, ["labels"], ct)).Tensors["labels"].Span<long>().ToArray() : null;

        using var call = new BottleneckService.BottleneckServiceClient(ctx.Channel).Predict(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new PredictRequest { Config = new PredictConfig { Model = new ArtifactRef { Id = ctx.Input("model") } } }, ct);
        var send = Task.Run(() => ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.RenamedAsync(ctx.StoreChannel, source, [(tensor, "inputs")], ct),
            b => new PredictRequest { Block = b }, ct, complete: true), ct);
        long rows = 0, correct = 0;
        var meta = JsonSerializer.Serialize(new { type = "predictions", model = ctx.Input("model"), activations = source });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/bottleneck.predict" }, Predictions(), ct);
        await send;
        var metrics = new Dictionary<string, double> { ["rows"] = rows };
        if (labels is not null) metrics["accuracy"] = rows > 0 ? correct / (double)rows : 0;
        return new StepResult(new Dictionary<string, ArtifactRef> { ["predictions"] = stored.Ref }, metrics);

        async IAsyncEnumerable<TensorBlock> Predictions()
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var b = call.ResponseStream.Current.Block;
                if (b.Name != "predictions") continue;
                if (labels is not null) correct += Matches(b.Tensor.Data.Span, labels, b.RowOffset);
                rows += b.Tensor.Shape[0];
                b.TotalShape.Clear();
                yield return b;
            }
        }
    }

    static long Matches(ReadOnlySpan<byte> data, long[] labels, long offset)
    {
        var p = MemoryMarshal.Cast<byte, long>(data);
        long n = 0;
        for (int i = 0; i < p.Length; i++) if (p[i] == labels[offset + i]) n++;
        return n;
    }
}
