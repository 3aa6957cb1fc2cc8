using static TorchSharp.torch;

namespace ConceptSuite.Embedding.Models;

/// <summary>A TorchSharp network that exposes named intermediate outputs.</summary>
public interface ITappedNetwork
{
    /// <summary>Tap names, the default first.</summary>
    IReadOnlyList<string> TapNames { get; }
    /// <summary>All taps for a batch of normalised inputs [N, C, H, W].</summary>
    Dictionary<string, Tensor> Taps(Tensor x);
}
