using TorchSharp;

namespace ConceptSuite.Embedding.Models;

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

    /// <summary>Bytes of its weights in memory (what the loaded-model cache counts).</summary>
    long WeightBytes { get; }

    /// <summary>True when a request may name <paramref name="tap"/>.</summary>
    bool HasTap(string tap);

    /// <summary>
    /// Runs the network on float32 [N, C, H, W] pixels in the 0-255 range (already conformed to
    /// <see cref="Input"/>) and returns float32 CPU tensors [N, ...tap shape] for the named taps.
    /// The caller owns the returned tensors.
    /// </summary>
    Dictionary<string, torch.Tensor> Forward(torch.Tensor pixels, IReadOnlyList<string> taps);
}
