using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>
/// A concept dictionary: activations A [N, D] ≈ U [N, C] · W [C, D] (the unifying view of
/// Fel et al. 2023, "A Holistic Approach to Unifying Automatic Concept Extraction and Concept
/// Importance Estimation"). Every method has the same verbs: <see cref="Fit"/> on a stream of
/// row blocks, <see cref="Encode"/> (A → U), <see cref="Decode"/> (U → A), and its learned
/// state to and from tensors (stored as an artifact with its options).
/// </summary>
public interface IConceptDictionary : IDisposable
{
    /// <summary>Registry name of the method.</summary>
    string Method { get; }
    /// <summary>C: number of atoms.</summary>
    int Concepts { get; }
    /// <summary>D: activation width (0 before fitting or loading).</summary>
    int InputDim { get; }
    /// <summary>True when <see cref="Encode"/> never returns negative values.</summary>
    bool NonNegativeCodes { get; }

    /// <summary>Checks the data against the method's assumptions before any compute (e.g.
    /// plain NMF needs non-negative data); throws InvalidInputException naming the field.</summary>
    void Validate(DataStats stats);

    /// <summary>Learns the dictionary from the rows (may read them several times).</summary>
    void Fit(IRowSource data, FitContext context);

    /// <summary>float32 [n, D] → codes [n, C].</summary>
    torch.Tensor Encode(torch.Tensor x);

    /// <summary>codes [n, C] → float32 [n, D].</summary>
    torch.Tensor Decode(torch.Tensor codes);

    /// <summary>The atoms W [C, D] (a copy).</summary>
    torch.Tensor Atoms();

    /// <summary>The learned state to store (input normalisation folded in; a copy).</summary>
    Dictionary<string, torch.Tensor> SaveState();

    /// <summary>Restores a state written by <see cref="SaveState"/>.</summary>
    void LoadState(IReadOnlyDictionary<string, torch.Tensor> state);
}
