using ConceptSuite.Core.Concepts;
using ConceptSuite.Explain.Importance;
using TorchSharp;
using static ConceptSuite.Tests.Explain.ExplainFixtures;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Explain;

/// <summary>The explain stage on Core's shared bottleneck head (ConceptModel).</summary>
public sealed class BottleneckHeadTests
{
    /// <summary>A small CBM: 4 inputs → 3 linear concepts (standardised by μ, σ) → 2 classes.</summary>
    internal static ConceptModel TinyModel()
    {
        var spec = new ConceptModelSpec { ModelType = "cbm", InputDim = 4, ConceptNames = ["a", "b", "c"], ClassNames = ["x", "y"], ConceptActivation = ConceptActivations.Linear };
        var f = (Tensor t) => t.to_type(ScalarType.Float32);
        var tensors = new Dictionary<string, Tensor>
        {
            [ConceptModel.TensorNames.InputMean] = torch.zeros(4),
            [ConceptModel.TensorNames.InputScale] = torch.ones(4),
            [ConceptModel.TensorNames.ConceptWeight] = f(Randn(70, 3, 4)),
            [ConceptModel.TensorNames.ConceptBias] = f(Randn(71, 3)),
            [ConceptModel.TensorNames.ConceptMean] = torch.tensor(new float[] { 0.5f, -0.2f, 0.1f }),
            [ConceptModel.TensorNames.ConceptScale] = torch.tensor(new float[] { 2f, 0.5f, 1f }),
            [ConceptModel.TensorNames.HeadWeight] = f(Randn(72, 2, 3)),
            [ConceptModel.TensorNames.HeadBias] = f(Randn(73, 2)),
        };
        return new ConceptModel(spec, tensors);
    }

    [Fact]
    public void GradientInputOnABottleneckModelIsItsContributionsUpToTheStandardisationOffset()
    {
        using var scope = torch.NewDisposeScope();
        using var model = TinyModel();
        var x = Randn(74, 6, 4).to_type(ScalarType.Float32);
        var c = model.Concepts(x).to_type(ScalarType.Float64);
        long[] targets = [0, 1, 0, 1, 1, 0];
        var head = new BottleneckConceptHead(model);
        Assert.Equal(3, head.Concepts);
        Assert.Equal(2, head.Classes);
        // h(c)_j = Σ_k W_jk (c_k − μ_k)/σ_k + b_j, so c_k ∂h/∂c_k = W_jk c_k / σ_k, and occlusion
        // (c_k → 0) removes W_jk c_k / σ_k as well.
        var w = model.HeadWeight.to_type(ScalarType.Float64).index_select(0, torch.tensor(targets));
        var sigma = torch.tensor(new double[] { 2, 0.5, 1 });
        var expected = w * c / sigma;
        Assert.True((new GradientInput().Explain(head, c, targets) - expected).abs().max().item<double>() < 1e-5);
        Assert.True((new Occlusion().Explain(head, c, targets) - expected).abs().max().item<double>() < 1e-5);
        // The logits agree with the model's own forward pass.
        Assert.True((head.Forward(c) - model.Forward(x).Logits.to_type(ScalarType.Float64)).abs().max().item<double>() < 1e-5);
    }

    [Fact]
    public void GradientsOfAGrassmannHeadGoThroughTheRealHead()
    {
        using var scope = torch.NewDisposeScope();
        using var model = ConceptSuite.Tests.Bottleneck.GrassmannHeadTests.Tiny(r: 2);
        var x = Randn(75, 6, 4).to_type(ScalarType.Float32);
        var c = model.Concepts(x).to_type(ScalarType.Float64);
        long[] targets = [0, 1, 0, 1, 1, 0];
        var head = new BottleneckConceptHead(model);
        // h(c)_j = s‖S_jᵀz‖ + b_j with z = (c − μ)/σ: ∂h_j/∂c_k = s (S_j p̂_j)_k / σ_k, p_j = S_jᵀz.
        var sigma = torch.tensor(new double[] { 2, 0.5, 1 });
        var z = (c - torch.tensor(new double[] { 0.5, -0.2, 0.1 })) / sigma;
        var s = model.HeadSubspaces.to_type(ScalarType.Float64).index_select(0, torch.tensor(targets));   // [N, K, r]
        var p = torch.einsum("nk,nkr->nr", z, s);
        var u = torch.einsum("nkr,nr->nk", s, p / p.norm(1, keepdim: true));
        var expected = c * model.HeadScale * u / sigma;
        Assert.True((new GradientInput().Explain(head, c, targets) - expected).abs().max().item<double>() < 1e-5);
        // Occlusion (c_k → 0) is not the gradient share for a nonlinear head; it is the logit drop through the same head.
        var occlusion = new Occlusion().Explain(head, c, targets);
        var full = head.Forward(c).gather(1, torch.tensor(targets).unsqueeze(1));
        for (int k = 0; k < 3; k++)
        {
            var occluded = c.clone();
            occluded[.., k] = 0;
            Assert.True((occlusion.select(1, k) - (full - head.Forward(occluded).gather(1, torch.tensor(targets).unsqueeze(1))).squeeze(1)).abs().max().item<double>() < 1e-5);
        }
        Assert.True((head.Forward(c) - model.Forward(x).Logits.to_type(ScalarType.Float64)).abs().max().item<double>() < 1e-5);
    }
}
