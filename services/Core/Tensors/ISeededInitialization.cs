using static TorchSharp.torch;

namespace ConceptSuite.Core.Tensors;

/// <summary>A module with parameters of its own (not in child layers) that it draws from the given generator.</summary>
public interface ISeededInitialization
{
    /// <summary>Draws this module's own parameters (not its children's) from <paramref name="generator"/>.</summary>
    void Initialize(Generator generator);
}
