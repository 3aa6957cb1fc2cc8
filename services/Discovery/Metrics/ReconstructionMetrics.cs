namespace ConceptSuite.Discovery.Metrics;

/// <summary>Reconstruction and sparsity of a dictionary over some samples.</summary>
public sealed record ReconstructionMetrics(double R2, double Mse, double L0, double DeadFraction, long Samples)
{
    public Dictionary<string, double> ToDictionary() => new()
    {
        ["r2"] = R2, ["mse"] = Mse, ["l0"] = L0, ["dead_fraction"] = DeadFraction, ["eval_samples"] = Samples,
    };
}
