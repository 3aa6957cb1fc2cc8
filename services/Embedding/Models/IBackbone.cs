using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>What a backbone runs on after decoding: channels and size, plus its own normalisation.</summary>
/// <param name="Preprocessing">What the backbone does to 0-255 pixels before its first layer.</param>
public sealed record InputSpec(int Channels, int Height, int Width, string Preprocessing);

/// <summary>A named layer output. <paramref name="Shape"/> is per row (no batch dimension).</summary>
public sealed record TapSpec(string Name, long[] Shape, string Source)
{
    /// <summary>"vector" [D], "spatial" [C, H, W] or "tokens" [T, D].</summary>
    public string Layout => Shape.Length switch { 1 => "vector", 2 => "tokens", 3 => "spatial", _ => $"rank{Shape.Length}" };
}

/// <summary>
/// An image model that maps pixels to named activations. Every kind (ONNX, TorchScript, built-in
/// TorchSharp network) implements it; the registry and the batcher see only this.
/// </summary>
public interface IBackbone : IDisposable
{
    string Name { get; }
    string Version { get; }
    /// <summary>"onnx", "torchscript" or "builtin".</summary>
    string Kind { get; }
    /// <summary>Where the weights come from.</summary>
    string Source { get; }
    InputSpec Input { get; }
    /// <summary>Named taps in network order; the first is the default.</summary>
    IReadOnlyList<TapSpec> Taps { get; }

    /// <summary>True when a request may name <paramref name="tap"/>.</summary>
    bool HasTap(string tap);

    /// <summary>
    /// Runs the network on float32 [N, C, H, W] pixels in the 0-255 range (already conformed to
    /// <see cref="Input"/>) and returns float32 CPU tensors [N, ...tap shape] for the named taps.
    /// The caller owns the returned tensors.
    /// </summary>
    Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps);
}
