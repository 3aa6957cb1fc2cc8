using ConceptSuite.Core.Methods;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// Completeness of a concept set (Yeh et al. 2020, "On Completeness-aware Concept-Based
/// Explanations in Deep Neural Networks", eq. 1): η = (a_concepts − a_r) / (a_model − a_r), the share
/// of the model's accuracy above chance that predictions made through the concepts recover; a_r is
/// the chance accuracy (1/C by default).
/// </summary>
public static class Completeness
{
    public static double Compute(long[] labels, long[] modelPredictions, long[] conceptPredictions, double? chanceAccuracy = null, int classes = 0)
    {
        if (labels.Length == 0) throw new Contracts.InvalidInputException("labels", "is empty");
        if (modelPredictions.Length != labels.Length) throw new Contracts.InvalidInputException("model_predictions", $"has {modelPredictions.Length} entries for {labels.Length} labels");
        if (conceptPredictions.Length != labels.Length) throw new Contracts.InvalidInputException("concept_predictions", $"has {conceptPredictions.Length} entries for {labels.Length} labels");
        int c = classes > 0 ? classes : (int)labels.Concat(modelPredictions).Concat(conceptPredictions).Max() + 1;
        double ar = chanceAccuracy ?? 1.0 / c;
        double am = Accuracy(labels, modelPredictions), ac = Accuracy(labels, conceptPredictions);
        if (am - ar <= 0) throw new Contracts.InvalidInputException("model_predictions", $"model accuracy {am:F4} is not above chance {ar:F4}: completeness is undefined");
        return (ac - ar) / (am - ar);
    }

    public static double Accuracy(long[] labels, long[] predictions) => labels.Zip(predictions).Count(p => p.First == p.Second) / (double)labels.Length;
}

/// <summary>Options of <see cref="Completeness"/> (config field chance_accuracy).</summary>
public sealed record CompletenessOptions(double ChanceAccuracy) : MetricOptions
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Float("chance_accuracy", 0, "chance accuracy a_r (0: 1/C)", 0, 1)];

    public static MetricOptions From(OptionValues o) => new CompletenessOptions(o.Float("chance_accuracy"));
}
