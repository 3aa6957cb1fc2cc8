using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Net.Client;

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
public sealed class CompareRepresentationsStep : IStepExecutor
{
    public string Method => "explain.compare";
    public string DefaultStage => "explain";
    public IReadOnlyList<string> Inputs => ["a", "b"];
    public IReadOnlyList<string> Outputs => ["report"];
    public IReadOnlyList<string> Options => ["similarities", "match_units", "seed", "tensor_a", "tensor_b"];
    public string Description => "Compares two activation artifacts: CKA family, unit matching (ExplainService.CompareRepresentations).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var config = new CompareRepresentationsConfig { Seed = ctx.Int("seed", 0, 0) };
        config.Similarities.AddRange(ctx.Option("similarities", "linear_cka,debiased_cka").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        config.MatchUnits = ctx.Option("match_units", "true") switch
        {
            "true" or "1" => true,
            "false" or "0" => false,
            var v => throw new InvalidInputException($"steps.{ctx.Step}.options.match_units", $"'{v}' is not true or false"),
        };
        string a = ctx.Input("a"), b = ctx.Input("b");
        using var call = new ExplainService.ExplainServiceClient(ctx.Channel).CompareRepresentations(cancellationToken: ctx.CancellationToken);
        await call.RequestStream.WriteAsync(new CompareRepresentationsRequest { Config = config }, ctx.CancellationToken);
        long rows = 0;
        foreach (var (input, id, tensor) in new[] { ("a", a, ctx.Option("tensor_a", "activations")), ("b", b, ctx.Option("tensor_b", "activations")) })
            await foreach (var block in Relay(ctx.StoreChannel, id, tensor, input, ctx.CancellationToken))
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
        var blocks = new HostTensor(DType.Float64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), []).ToBlocks("similarities");
        if (r.Matching is { } m)
        {
            metrics["mean_matched_correlation"] = m.MeanMatchedCorrelation;
            metrics["mean_semi_correlation"] = m.SemiCorrelation.Count == 0 ? 0 : m.SemiCorrelation.Average();
            metrics["units_a"] = m.Correlation.Shape[0];
            metrics["units_b"] = m.Correlation.Shape[1];
            var partner = m.Partner.Select(p => (long)p).ToArray();
            var partnerCorrelation = m.PartnerCorrelation.ToArray();
            blocks = new HostTensor(m.Correlation.Dtype, [.. m.Correlation.Shape], m.Correlation.Data.ToByteArray(), []).ToBlocks("correlation")
                .Concat(new HostTensor(DType.Int64, [partner.Length], MemoryMarshal.AsBytes(partner.AsSpan()).ToArray(), []).ToBlocks("partner"))
                .Concat(new HostTensor(DType.Float64, [partnerCorrelation.Length], MemoryMarshal.AsBytes(partnerCorrelation.AsSpan()).ToArray(), []).ToBlocks("partner_correlation"));
        }
        var meta = JsonSerializer.Serialize(new { type = "compare-representations", a, b, similarities = names });
        var info = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.compare" }, ArtifactTransfer.AsAsync(blocks, ctx.CancellationToken), ctx.CancellationToken);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["report"] = info.Ref }, metrics);
    }

    /// <summary>One tensor of a stored artifact, block by block, under another name.</summary>
    static async IAsyncEnumerable<TensorBlock> Relay(GrpcChannel store, string id, string tensor, string name, [EnumeratorCancellation] CancellationToken ct)
    {
        var (_, blocks, call) = await ArtifactTransfer.OpenAsync(store, id, [tensor], ct);
        using (call)
            await foreach (var b in blocks.WithCancellation(ct))
            {
                b.Name = name;
                yield return b;
            }
    }
}
