using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// ExplainService.CompareRepresentations on two activation artifacts of the same N samples (e.g.
/// two backbones over one dataset): the blocks of tensor "activations" of input "a" and of input
/// "b" are relayed from the store to the explain stage block by block, renamed "a" and "b".
/// Reports the similarity indices (default linear CKA, Kornblith et al. 2019, "Similarity of Neural
/// Network Representations Revisited"; debiased CKA, Székely &amp; Rizzo's unbiased HSIC estimator as
/// used by Nguyen et al. 2021) and, unless match_units is false, the unit correlation matching of Li
/// et al. 2016 ("Convergent Learning"): one-to-one (Hungarian) and semi-matching of a's units to b's.
/// Stored as a "report" artifact with tensors "similarities" float64 [S] (in the order of the
/// metadata's names), "correlation" float64 [D₁, D₂], "partner" int64 [D₁] (-1: unmatched),
/// "partner_correlation" float64 [D₁] and metadata {"type": "compare-representations", "a", "b",
/// "similarities": [names]}. Metrics: each index by name, mean_matched_correlation,
/// mean_semi_correlation, units_a, units_b. Options: similarities (comma list), match_units,
/// seed, tensor_a, tensor_b (default "activations").
/// </summary>
public sealed class CompareRepresentationsStep(CompareRepresentationsStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Similarities, bool MatchUnits, long Seed, string TensorA, string TensorB)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("similarities", "linear_cka,debiased_cka", "similarity indices, comma list (checked by the stage)"),
            OptionSpec.Bool("match_units", true, "also match units one-to-one and semi (Li et al. 2016)"),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Text("tensor_a", "activations", "the tensor of input a"),
            OptionSpec.Text("tensor_b", "activations", "the tensor of input b"),
        ];

        public static Options From(OptionValues o) => new(o.Text("similarities"), o.Bool("match_units"), o.Long("seed"), o.Text("tensor_a"), o.Text("tensor_b"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var config = new CompareRepresentationsConfig { Seed = options.Seed };
        config.Similarities.AddRange(OptionText.List(options.Similarities));
        config.MatchUnits = options.MatchUnits;
        string a = ctx.Input("a"), b = ctx.Input("b");
        using var call = new ExplainService.ExplainServiceClient(ctx.Channel).CompareRepresentations(cancellationToken: ctx.CancellationToken);
        await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Config = config }, ctx.CancellationToken);
        long rows = 0;
        foreach (var (input, id, tensor) in new[] { ("a", a, options.TensorA), ("b", b, options.TensorB) })
            await foreach (var block in ArtifactTransfer.RenamedAsync(ctx.StoreChannel, id, [(tensor, input)], ctx.CancellationToken))
            {
                rows += block.Tensor.Shape[0];
                await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Block = block }, ctx.CancellationToken);
                ctx.Progress(rows, 0, "rows", "send " + input);
            }
        await call.RequestStream.CompleteAsync();
        var r = await call.ResponseAsync;

        var metrics = r.Similarities.ToDictionary(kv => kv.Key, kv => kv.Value);
        var names = r.Similarities.Keys.Order(StringComparer.Ordinal).ToArray();
        var values = names.Select(n => r.Similarities[n]).ToArray();
        var blocks = new HostTensor(DType.Float64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), []).ToBlocks("similarities", ctx.BlockBytes);
        if (r.Matching is { } m)
        {
            metrics["mean_matched_correlation"] = m.MeanMatchedCorrelation;
            metrics["mean_semi_correlation"] = m.SemiCorrelation.Count == 0 ? 0 : m.SemiCorrelation.Average();
            metrics["units_a"] = m.Correlation.Shape[0];
            metrics["units_b"] = m.Correlation.Shape[1];
            var partner = m.Partner.Select(p => (long)p).ToArray();
            var partnerCorrelation = m.PartnerCorrelation.ToArray();
            blocks = new HostTensor(m.Correlation.Dtype, [.. m.Correlation.Shape], m.Correlation.Data.ToByteArray(), []).ToBlocks("correlation", ctx.BlockBytes)
                .Concat(new HostTensor(DType.Int64, [partner.Length], MemoryMarshal.AsBytes(partner.AsSpan()).ToArray(), []).ToBlocks("partner", ctx.BlockBytes))
                .Concat(new HostTensor(DType.Float64, [partnerCorrelation.Length], MemoryMarshal.AsBytes(partnerCorrelation.AsSpan()).ToArray(), []).ToBlocks("partner_correlation", ctx.BlockBytes));
        }
        var meta = JsonSerializer.Serialize(new { type = "compare-representations", a, b, similarities = names });
        var info = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.compare" }, ArtifactTransfer.AsAsync(blocks, ctx.CancellationToken), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["report"] = info.Ref }, metrics);
    }
}
