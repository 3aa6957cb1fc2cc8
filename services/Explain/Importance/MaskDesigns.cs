using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Importance;

/// <summary>Designs by name: "sobol", "halton", "latin_hypercube", "random".</summary>
public static class MaskDesigns
{
    public static IMaskDesign Create(string name) => name switch
    {
        "sobol" => new SobolSequenceDesign(),
        "halton" => new HaltonDesign(),
        "latin_hypercube" => new LatinHypercubeDesign(),
        "random" => new RandomDesign(),
        _ => throw new Contracts.InvalidInputException("design", $"unknown design '{name}'; known: sobol, halton, latin_hypercube, random"),
    };
}
