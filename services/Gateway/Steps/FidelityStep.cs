using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;

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
public sealed class FidelityStep : IStepExecutor
{
    public string Method => "explain.fidelity";
    public string DefaultStage => "explain";
    public IReadOnlyList<string> Inputs => ["model", "activations"];
    public IReadOnlyList<string> OptionalInputs => ["reference"];
    public IReadOnlyList<string> Outputs => ["fidelity"];
    public IReadOnlyList<string> Options => ["method", "design_size", "seed", "subsets", "tensor"];
    public string Description => "Deletion/insertion curves, MuFidelity, sparsity and completeness of a bottleneck model's concepts (ExplainService.Fidelity).";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var source = ctx.Input("activations");
        var tensor = ctx.Option("tensor", "activations");
        using var call = new ExplainService.ExplainServiceClient(ctx.Channel).Fidelity(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new FidelityRequest
        {
            Config = new FidelityConfig
            {
                Importance = ClassImportanceStep.Settings(ctx, "gradient_input"), Subsets = (int)ctx.Int("subsets", 0, 0, 1 << 16),
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
        var blocks = HostTensor.FromFloats(r.DeletionCurve.Select(v => (float)v).ToArray(), r.DeletionCurve.Count).ToBlocks("deletion_curve")
            .Concat(HostTensor.FromFloats(r.InsertionCurve.Select(v => (float)v).ToArray(), r.InsertionCurve.Count).ToBlocks("insertion_curve"));
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, "report", meta,
            new Dictionary<string, string> { ["producer"] = "gateway/explain.fidelity" }, ArtifactTransfer.AsAsync(blocks, ct), ct);
        return new StepResult(new Dictionary<string, ArtifactRef> { ["fidelity"] = stored.Ref }, metrics);
    }
}
