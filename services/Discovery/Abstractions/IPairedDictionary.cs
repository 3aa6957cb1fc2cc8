using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>
/// A dictionary fitted on two paired modalities (row i of the activations and row i of the paired
/// activations describe the same example, e.g. an image and its caption). The dictionary itself
/// encodes and decodes the first modality; <see cref="PairedSide"/> is the same concepts acting on
/// the paired one (the Encode/Decode option <c>modality = "paired"</c>).
/// </summary>
public interface IPairedDictionary : IConceptDictionary
{
    /// <summary>Width of the paired modality (0 before fitting or loading).</summary>
    int PairedDim { get; }

    /// <summary>Checks the paired data before any compute; throws InvalidInputException naming the field.</summary>
    void ValidatePaired(DataStats data, DataStats paired);

    /// <summary>Bytes the fit holds at once for these shapes (checked against the per-call budget before the fit starts).</summary>
    long WorkingBytes(long samples, int dim, int pairedDim);

    /// <summary>A view of the same concepts on the paired modality (Encode, Decode, Atoms); owned by this dictionary.</summary>
    IConceptDictionary PairedSide();
}
