using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.Encode: streams an activation artifact from the store through the stage
/// block by block and stores the concept coefficients U [N, C] as an "activations" artifact
/// (tensor "activations" = U, and the source's "labels"), so the codes feed any later step that
/// takes activations — the sparse probe of Discover-then-Name trains on them. Metrics: rows,
/// l0 (mean non-zero coefficients per row), active_concepts (concepts non-zero somewhere).
/// </summary>
public sealed class EncodeStep(ActivationTensorOptions options) : IStepExecutor
{
    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var source = ctx.Input("activations");
        var tensor = options.Tensor;
        var (info, rows) = await ArtifactTransfer.SourceAsync(ctx.StoreChannel, source, tensor, ctx.OptionField("tensor"), ct);
        bool labels = info.Tensors.Any(t => t.Name == "labels");

        using var call = new DiscoveryService.DiscoveryServiceClient(ctx.Channel).Encode(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new EncodeRequest { Config = new EncodeConfig { Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = ctx.Input("dictionary"), Kind = "dictionary" } } } }, ct);
        var send = Task.Run(() => ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.RenamedAsync(ctx.StoreChannel, source, [(tensor, "activations")], ct),
            b => new EncodeRequest { Block = b }, ct, complete: true), ct);

        long nonZero = 0, done = 0;
        bool[]? active = null;
        var meta = JsonSerializer.Serialize(new { type = "codes", dictionary = ctx.Input("dictionary"), activations = source, tensor, class_names = StepMetadata.Strings(info.MetadataJson, "class_names") });
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "activations", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/discovery.encode" }, Blocks(), ct);
        await send;
        return new StepResult(new Dictionary<string, ArtifactRef> { ["codes"] = stored.Ref },
            new Dictionary<string, double> { ["rows"] = done, ["l0"] = done > 0 ? nonZero / (double)done : 0, ["active_concepts"] = active?.Count(a => a) ?? 0 });

        async IAsyncEnumerable<TensorBlock> Blocks()
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var b = call.ResponseStream.Current;
                var shape = b.Tensor.Shape;
                active ??= new bool[shape.Count == 2 ? (int)shape[1] : 1];
                nonZero += CountNonZero(b.Tensor.Data.Span, active);
                done += shape[0];
                b.TotalShape.Clear();
                yield return b;
                ctx.Progress(done, rows, "rows", "encode");
            }
            if (labels)
                await foreach (var b in ArtifactTransfer.RenamedAsync(ctx.StoreChannel, source, [("labels", "labels")], ct))
                    yield return b;
        }
    }

    /// <summary>Non-zero float32 values of a row-major [n, C] block; marks the columns seen non-zero.</summary>
    static long CountNonZero(ReadOnlySpan<byte> data, bool[] active)
    {
        var values = MemoryMarshal.Cast<byte, float>(data);
        long count = 0;
        for (int i = 0; i < values.Length; i++)
            if (values[i] != 0) { count++; active[i % active.Length] = true; }
        return count;
    }
}
