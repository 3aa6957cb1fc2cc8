using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// ExplainService.Fidelity of a stored bottleneck model's concept explanation on held-out
/// activations (targets: the true classes): the deletion / insertion curves and their areas,
/// MuFidelity, the coefficients' sparsity (l0, Hoyer), and — with input reference, the
/// "predictions" report of the model the concepts should explain (e.g. the linear probe) —
/// completeness η = (acc(concept head) − 1/C) / (acc(reference) − 1/C) (Yeh et al. 2020). Stored
/// as a "report" artifact: tensors "deletion_curve", "insertion_curve" float32 [K + 1]; metadata
/// {"type": "fidelity", "model", "activations", "reference", "metrics" (the finite ones)}.
/// </summary>
public sealed class FidelityStep(FidelityStep.Options options) : IStepExecutor
{
    /// <summary>The step's options, parsed once against <see cref="Schema"/>.</summary>
    public sealed record Options(string Method, int DesignSize, long Seed, int Subsets, string Tensor)
    {
        public static readonly IReadOnlyList<OptionSpec> Schema =
        [
            OptionSpec.Text("method", "gradient_input", "the importance estimator that orders the concepts (checked by the stage)"),
            OptionSpec.Int("design_size", 0, "estimator design size (0: the estimator's default)", 0, 1 << 16),
            OptionSpec.Int("seed", 0, "random seed", 0),
            OptionSpec.Int("subsets", 0, "MuFidelity subsets (0: the stage's default)", 0, 1 << 16),
            OptionSpec.Text("tensor", "activations", "the activation tensor of the input artifact"),
        ];

        public static Options From(OptionValues o) => new(o.Text("method"), o.Int("design_size"), o.Long("seed"), o.Int("subsets"), o.Text("tensor"));
    }

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var source = ctx.Input("activations");
        var tensor = options.Tensor;
        using var call = new ExplainService.ExplainServiceClient(ctx.Channel).Fidelity(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new FidelityRequest
        {
            Config = new FidelityConfig
            {
                Importance = ClassImportanceStep.Settings(options.Method, options.DesignSize, options.Seed), Subsets = options.Subsets,
                Artifact = new ArtifactRef { Id = source }, Model = new ArtifactRef { Id = ctx.Input("model"), Kind = "bottleneck" },
            },
        }, ct);
        await ArtifactTransfer.WriteAsync(call.RequestStream, ArtifactTransfer.RenamedAsync(ctx.StoreChannel, source, [(tensor, "inputs"), ("labels", "targets")], ct),
            b => new FidelityRequest { Block = b }, ct);
        var reference = ctx.OptionalInput("reference") is { } referenceId
            ? ArtifactTransfer.RenamedAsync(ctx.StoreChannel, referenceId, [("predictions", "model_predictions")], ct)
            : ArtifactTransfer.AsAsync([], ct);
        await ArtifactTransfer.WriteAsync(call.RequestStream, reference, b => new FidelityRequest { Block = b }, ct, complete: true);
        var r = await call.ResponseAsync;
        var metrics = new Dictionary<string, double>
        {
            ["deletion_area"] = r.DeletionArea, ["insertion_area"] = r.InsertionArea, ["mu_fidelity"] = r.MuFidelity,
            ["samples"] = r.Samples, ["l0"] = r.L0, ["hoyer"] = r.Hoyer,
        };
        if (r.Completeness is { } completeness) metrics["completeness"] = completeness;
        var meta = JsonSerializer.Serialize(new { type = "fidelity", model = ctx.Input("model"), activations = source, reference = ctx.OptionalInput("reference") ?? "",
            metrics = metrics.Where(kv => double.IsFinite(kv.Value)).ToDictionary() });
        var blocks = HostTensor.FromFloats(r.DeletionCurve.Select(v => (float)v).ToArray(), r.DeletionCurve.Count).ToBlocks("deletion_curve", ctx.BlockBytes)
            .Concat(HostTensor.FromFloats(r.InsertionCurve.Select(v => (float)v).ToArray(), r.InsertionCurve.Count).ToBlocks("insertion_curve", ctx.BlockBytes));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.fidelity" }, ArtifactTransfer.AsAsync(blocks, ct), ct);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["fidelity"] = stored.Ref }, metrics);
    }
}
