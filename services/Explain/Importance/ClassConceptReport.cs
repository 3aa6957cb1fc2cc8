using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// Class-level reducers of local importances (Fel et al. 2023, §5, the inputs of the strategic
/// cluster graph). For class c, over its samples S_c (by label or prediction) and a presence
/// threshold τ on the coefficients:
/// importance_k = mean_{n∈S_c} φ_nk;
/// prevalence_k = |{n ∈ S_c : u_nk &gt; τ}| / |S_c| (how often the concept appears in the class);
/// reliability_k = |{n ∈ S_c : u_nk &gt; τ}| / |{n : u_nk &gt; τ}| (how diagnostic the concept is of the
/// class: the share of all samples showing it that belong to c; 0 if it never appears).
/// </summary>
public static class ClassConceptReport
{
    public sealed record Result(long Class, int Samples, double[] Importance, double[] Prevalence, double[] Reliability);

    public static Result Compute(Tensor importance, Tensor coefficients, long[] classes, long target, double threshold = 0)
    {
        using var scope = torch.NewDisposeScope();
        var phi = ExplainTensors.Matrix(importance, "importance");
        var u = ExplainTensors.Matrix(coefficients, "coefficients");
        if (!phi.shape.SequenceEqual(u.shape)) throw new Contracts.InvalidInputException("importance", $"shape [{string.Join(", ", phi.shape)}] differs from the coefficients' [{string.Join(", ", u.shape)}]");
        if (classes.Length != u.shape[0]) throw new Contracts.InvalidInputException("labels", $"has {classes.Length} entries for {u.shape[0]} samples");
        var inClass = torch.tensor(classes.Select(c => c == target).ToArray());
        int count = classes.Count(c => c == target);
        if (count == 0) throw new Contracts.InvalidInputException("class_index", $"class {target} has no samples");
        var present = (u > threshold).to_type(ScalarType.Float64);
        var mask = inClass.to_type(ScalarType.Float64).unsqueeze(1);
        var imp = (phi * mask).sum([0]) / count;
        var inClassPresent = (present * mask).sum([0]);
        var prevalence = inClassPresent / count;
        var anyPresent = present.sum([0]);
        var reliability = torch.where(anyPresent > 0, inClassPresent / anyPresent.clamp_min(1), torch.zeros_like(anyPresent));
        return new Result(target, count, imp.data<double>().ToArray(), prevalence.data<double>().ToArray(), reliability.data<double>().ToArray());
    }
}
