using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// DiscoveryService.TopExamples: for every concept of a dictionary, the k samples of an
/// activation artifact where the concept is most active. Stored as a "report" artifact with
/// tensors "samples" int64 [C, k] (artifact rows, best first) and "values" float32 [C, k], and
/// metadata {"type": "top-examples", "dictionary", "activations", "dataset", "scanned", density bins}; tensors samples, values, firing, density — the dataset input
/// (optional) names the images those rows index, for the atlas.
/// </summary>
public sealed class TopExamplesStep(TopExamplesStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(int K)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Int("k", 8, "samples per concept", 1, 1024),
        ];

        public static Options From(OptionValues o) => new(o.Int("k"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        int k = options.K;
        var request = new TopExamplesRequest
        {
            Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = ctx.Input("dictionary"), Kind = "dictionary" } },
            Activations = new ArtifactRef { Id = ctx.Input("activations"), Kind = "activations" },
            K = k,
        };
        var r = await new DiscoveryService.DiscoveryServiceClient(ctx.Channel).TopExamplesAsync(request, cancellationToken: ctx.CancellationToken);
        int c = r.Concepts.Count;
        var rows = new long[c * k];
        var values = new float[c * k];
        Array.Fill(rows, -1);
        int bins = r.Concepts.Count > 0 ? r.Concepts.Max(e => e.Density.Count) : 0;
        var firing = new long[c];
        var density = new long[c * bins];
        foreach (var (e, i) in r.Concepts.OrderBy(e => e.Concept).Select((e, i) => (e, i)))
        {
            for (int j = 0; j < Math.Min(k, e.Rows.Count); j++) { rows[i * k + j] = e.Rows[j]; values[i * k + j] = e.Values[j]; }
            firing[i] = e.Firing;
            for (int j = 0; j < e.Density.Count; j++) density[i * bins + j] = e.Density[j];
        }
        var meta = JsonSerializer.Serialize(new
        {
            type = "top-examples", dictionary = ctx.Input("dictionary"), activations = ctx.Input("activations"),
            dataset = ctx.OptionalInput("dataset") ?? "", concepts = r.Concepts.OrderBy(e => e.Concept).Select(e => e.Concept).ToArray(),
            scanned = r.Scanned, density_min_log10 = r.DensityMinLog10, density_bin_log10 = r.DensityBinLog10,
        });
        var blocks = new HostTensor(DType.Int64, [c, k], MemoryMarshal.AsBytes(rows.AsSpan()).ToArray(), []).ToBlocks("samples", ctx.BlockBytes)
            .Concat(HostTensor.FromFloats(values, c, k).ToBlocks("values", ctx.BlockBytes))
            .Concat(new HostTensor(DType.Int64, [c], MemoryMarshal.AsBytes(firing.AsSpan()).ToArray(), []).ToBlocks("firing", ctx.BlockBytes))
            .Concat(new HostTensor(DType.Int64, [c, bins], MemoryMarshal.AsBytes(density.AsSpan()).ToArray(), []).ToBlocks("density", ctx.BlockBytes));
        var info = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/discovery.top-examples" }, ArtifactTransfer.AsAsync(blocks, ctx.CancellationToken), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["examples"] = info.Ref },
            new Dictionary<string, double> { ["concepts"] = c, ["k"] = k });
    }
}
