using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Embedding.Models;
using TorchSharp;

namespace ConceptSuite.Embedding.Methods;

/// <summary>
/// The family "backbone": the built-in networks TrainBackbone trains on a data set
/// (TrainBackboneRequest.architecture). A trained one is a "backbone" artifact, served as model
/// "backbone:&lt;artifact id&gt;"; the bundled models (resnet18, minilm) are listed by ListModels.
/// </summary>
public static class Backbones
{
    public static readonly MethodFamily<torch.nn.Module<torch.Tensor, torch.Tensor>> Family = new("backbone", EmbeddingStage.Name,
        "Built-in networks that TrainBackbone trains; a trained one is served as model \"backbone:<artifact id>\".",
        "architecture",
        [
            new("cnn", "LeCun et al. 1998, Gradient-based learning applied to document recognition (LeNet-style)",
                "small CNN for 28x28-class images (sides divisible by 4)", [], o => Cnn(BackboneShape.From(o)),
                new Dictionary<string, string> { ["taps"] = "conv1,conv2,features,logits" }),
            new("vit", "Dosovitskiy et al. 2021, An Image is Worth 16x16 Words",
                "small vision transformer on 7x7 patches with a class token", [], o => Vit(BackboneShape.From(o)),
                new Dictionary<string, string> { ["taps"] = "cls,tokens,logits" }),
        ]);

    static SmallCnn Cnn(BackboneShape s) =>
        s.Height % 4 == 0 && s.Width % 4 == 0
            ? new SmallCnn(s.Channels, s.Height, s.Width, s.Classes)
            : throw new InvalidInputException("dataset", $"cnn needs image sides divisible by 4, got {s.Height}x{s.Width}");

    static SmallVit Vit(BackboneShape s) => new(s.Channels, s.Height, s.Width, s.Classes);

    /// <summary>A fresh network of <paramref name="architecture"/> for <paramref name="shape"/> (seeded by the caller).</summary>
    public static torch.nn.Module<torch.Tensor, torch.Tensor> Create(string architecture, BackboneShape shape, string field = "architecture") =>
        Family.Create(architecture, null, field, shape.Check(field).AsContext(), methodField: field);

    /// <summary>
    /// The taps of <paramref name="architecture"/> built for <paramref name="shape"/> and their
    /// per-row shapes, from the sizes alone (no network is built).
    /// </summary>
    public static IReadOnlyList<(string Name, long[] Shape)> TapShapes(string architecture, BackboneShape shape, string field = "architecture") =>
        architecture switch
        {
            "cnn" => SmallCnn.TapShapes(shape.Check(field)),
            "vit" => SmallVit.TapShapes(shape.Check(field)),
            _ => throw new InvalidInputException(field, $"unknown architecture '{architecture}'; known: cnn, vit"),
        };
}
