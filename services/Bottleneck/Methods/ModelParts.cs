using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>Small helpers the model types share to assemble a <see cref="ConceptModel"/>.</summary>
public static class ModelParts
{
    /// <summary>Identity normalization [D] (zeros, ones).</summary>
    public static (Tensor Mean, Tensor Scale) Identity(long width, Device device) =>
        (zeros(width, device: device), ones(width, device: device));

    public static Tensor? RequireConceptLabels(BottleneckData d, string model)
    {
        if (d.ConceptLabels is null) throw new InvalidInputException("concept_labels", $"model type '{model}' needs a concept_labels block [N, K]");
        return d.ConceptLabels;
    }

    public static Tensor RequireConceptBank(BottleneckData d, string model)
    {
        if (d.ConceptBank is null) throw new InvalidInputException("concept_bank", $"model type '{model}' needs a concept_bank block [K, D]");
        return d.ConceptBank;
    }

    /// <summary>Accuracy of a fitted model on the training rows, and its sparsity.</summary>
    public static void TrainMetrics(ConceptModel model, BottleneckData d, Dictionary<string, double> metrics)
    {
        using var scope = NewDisposeScope();
        using (inference_mode())
        {
            metrics["train_accuracy"] = Fitting.LinearFits.Accuracy(model.Forward(d.Features).Logits, d.Labels);
            var nz = model.ConceptsPerClass();
            metrics["concepts_per_class_mean"] = nz.mean().item<float>();
            metrics["concepts_per_class_max"] = nz.max().item<float>();
        }
    }

    public static List<string> DefaultNames(string prefix, long count) =>
        Enumerable.Range(0, (int)count).Select(i => $"{prefix}{i}").ToList();
}
