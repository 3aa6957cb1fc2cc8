using ConceptSuite.Core.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// The importance estimators (family "importance"): a new estimator is one file and one line
/// here (or one <see cref="MethodFamily{T}.Register"/> call). The request's seed reaches the
/// options through <see cref="RequestSeed"/>.
/// </summary>
public static class ImportanceEstimators
{
    public static readonly MethodFamily<IConceptImportance> Family = new("importance", ExplainStage.Name,
        "Local concept importance φ [N, K] of each sample's target logit", "config.importance.method",
    [
        new("sobol", "Fel et al. 2021, Look at the Variance! (total Sobol indices, Jansen estimator)",
            "Total Sobol index of each concept under random concept masks", SobolOptions.Schema, o => new SobolTotalIndex(SobolOptions.From(o))),
        new("gradient_input", "Shrikumar et al. 2017, Learning Important Features Through Propagating Activation Differences",
            "Coefficient times the gradient of the target logit", [], _ => new GradientInput()),
        new("integrated_gradients", "Sundararajan, Taly and Yan 2017, Axiomatic Attribution for Deep Networks",
            "Gradients integrated on the path from the zero baseline", IntegratedGradientsOptions.Schema, o => new IntegratedGradients(IntegratedGradientsOptions.From(o))),
        new("occlusion", "Zeiler and Fergus 2014, Visualizing and Understanding Convolutional Networks",
            "Drop of the target logit when the concept is removed", [], _ => new Occlusion()),
        new("rise", "Petsiuk, Das and Saenko 2018, RISE", "Expected target logit given the concept is kept, over random masks",
            RiseOptions.Schema, o => new Rise(RiseOptions.From(o))),
    ]);

    /// <summary>Checks coefficients [N, K] against the head and targets against its classes.</summary>
    public static Tensor Check(IConceptHead head, Tensor coefficients, long[] targets)
    {
        var u = ExplainTensors.Matrix(coefficients, "coefficients");
        if (u.shape[1] != head.Concepts)
            throw new Contracts.InvalidInputException("coefficients", $"has {u.shape[1]} concepts, the head takes {head.Concepts}");
        if (targets.Length != u.shape[0])
            throw new Contracts.InvalidInputException("targets", $"has {targets.Length} entries for {u.shape[0]} samples");
        foreach (var t in targets)
            if (t < 0 || t >= head.Classes) throw new Contracts.InvalidInputException("targets", $"class {t} is outside [0, {head.Classes})");
        return u;
    }

    /// <summary>The target logit of each row: f [M] from logits [M, C] and a target per row.</summary>
    public static Tensor TargetLogit(IConceptHead head, Tensor u, long target) => head.Forward(u).select(1, target);
}
