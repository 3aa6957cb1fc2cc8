using ConceptSuite.Bottleneck.Methods;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>
/// Concept data with a known generative story, small enough for unit tests:
/// K binary concepts c ~ Bernoulli(½); the class is the nearest of C fixed binary prototypes in
/// Hamming distance (so the true concepts determine the label through a linear rule:
/// argmax_j (2P_j − 1)·c − |P_j|); the features are x = (2c − 1)A + σε with a fixed Gaussian
/// A ∈ R^{K×D}, so each concept is linearly decodable up to the noise σ.
/// </summary>
public static class SyntheticConcepts
{
    public const int K = 8, C = 4, D = 24;
    public static readonly IReadOnlyList<string> ConceptNames = Enumerable.Range(0, K).Select(i => $"c{i}").ToList();
    public static readonly IReadOnlyList<string> ClassNames = ["p0", "p1", "p2", "p3"];

    public static (Tensor X, Tensor Y, Tensor Concepts) Generate(int n, long seed, double noise = 1.0)
    {
        using var scope = NewDisposeScope();
        var fixedGen = new Generator(12345);
        var a = randn(K, D, generator: fixedGen);
        var prototypes = tensor(new float[]
        {
            1, 1, 0, 0, 1, 0, 0, 0,
            0, 1, 1, 0, 0, 1, 0, 0,
            0, 0, 1, 1, 0, 0, 1, 0,
            1, 0, 0, 1, 0, 0, 0, 1,
        }).reshape(C, K);
        var gen = new Generator((ulong)seed);
        var c = rand(n, K, generator: gen).lt(0.5f).to(ScalarType.Float32);
        var y = (c.matmul((2 * prototypes - 1).t()) - prototypes.sum(1)).argmax(1);
        var x = (2 * c - 1).matmul(a) + (float)noise * randn(n, D, generator: gen);
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), c.MoveToOuterDisposeScope());
    }

    public static BottleneckData Data(int n, long seed, double noise = 1.0, bool withConcepts = true)
    {
        var (x, y, c) = Generate(n, seed, noise);
        return new BottleneckData(x, y, ClassNames, withConcepts ? ConceptNames : [], withConcepts ? c : null, Seed: seed);
    }

    /// <summary>The model type with its options parsed as a Train request's would be.</summary>
    public static IBottleneckMethod Method(string modelType, params (string, string)[] given) =>
        BottleneckMethods.Family.Create(modelType, given.ToDictionary(g => g.Item1, g => g.Item2), "config", methodField: "config.model_type");

    public static readonly FitProgress NoProgress = (_, _, _) => { };
}
