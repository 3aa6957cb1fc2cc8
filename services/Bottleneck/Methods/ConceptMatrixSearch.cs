using ConceptSuite.Contracts;
using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Methods;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;

namespace ConceptSuite.Bottleneck.Methods;

/// <summary>
/// Concept Matrix Search (Semenov et al. 2024), training-free. With unit concept directions
/// t̂_k (concept text embeddings, rows of the concept bank) the image–concept profile is
/// s(x) = x T̂ᵀ, compared by cosine with each class's row of a class–concept matrix M:
///   ŷ(x) = argmax_j  cos(s(x), M_j) = argmax_j  (s(x)/‖s(x)‖) · (M_j/‖M_j‖).
/// M_j = ê_j T̂ᵀ from the class-name text embeddings e_j when "class_embeddings" is sent (zero
/// shot), otherwise the mean profile of the training rows of class j. No parameter is fitted
/// by gradient; the stored head is M̂ with l2-normalized concepts.
/// </summary>
public sealed class ConceptMatrixSearch(ConceptMatrixSearchOptions options) : IBottleneckMethod
{
    public const string TypeName = "concept_matrix_search";

    public string Name => TypeName;

    public BottleneckFit Fit(BottleneckData d, FitProgress progress, CancellationToken ct)
    {
        using var scope = NewDisposeScope();
        var source = options.ClassMatrix;
        if (source == "auto") source = d.ClassEmbeddings is not null ? "text" : "class_means";
        var bank = ModelParts.RequireConceptBank(d, TypeName);
        var t = bank / bank.norm(1, keepdim: true).clamp_min(1e-12f);
        Tensor m;
        if (source == "text")
        {
            if (d.ClassEmbeddings is null) throw new InvalidInputException("class_embeddings", "class_matrix=text needs a class_embeddings block [C, D]");
            m = d.ClassEmbeddings.matmul(t.t());
        }
        else
        {
            var s = d.Features.matmul(t.t());
            var onehot = nn.functional.one_hot(d.Labels, d.Classes).to(ScalarType.Float32);
            m = onehot.t().matmul(s) / onehot.sum([0]).unsqueeze(1);
        }
        m = m / m.norm(1, keepdim: true).clamp_min(1e-12f);
        progress("search", 1, 1);
        var (im, iscale) = ModelParts.Identity(d.InputDim, d.Features.device);
        var (cm, cs) = ModelParts.Identity(t.shape[0], d.Features.device);
        var spec = new ConceptModelSpec
        {
            ModelType = TypeName, InputDim = d.InputDim, ConceptNames = d.ConceptNames.ToList(), ClassNames = d.ClassNames.ToList(),
            ConceptActivation = ConceptActivations.Linear, L2NormalizeConcepts = true, Options = new() { ["class_matrix"] = source },
        };
        var model = new ConceptModel(spec, new Dictionary<string, Tensor>
        {
            [N.InputMean] = im, [N.InputScale] = iscale, [N.ConceptWeight] = t, [N.ConceptBias] = zeros(t.shape[0], device: t.device),
            [N.ConceptMean] = cm, [N.ConceptScale] = cs, [N.HeadWeight] = m, [N.HeadBias] = zeros(d.Classes, device: t.device),
        });
        var metrics = new Dictionary<string, double>();
        ModelParts.TrainMetrics(model, d, metrics);
        return new BottleneckFit(model, metrics);
    }
}

/// <summary>Options of <see cref="ConceptMatrixSearch"/>.</summary>
public sealed record ConceptMatrixSearchOptions(string ClassMatrix)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Choice("class_matrix", "auto", "text (class_embeddings) | class_means (training rows) | auto", "auto", "text", "class_means"),
    ];

    public static ConceptMatrixSearchOptions From(OptionValues o) =>
        new(o.Choice("class_matrix"));
}
