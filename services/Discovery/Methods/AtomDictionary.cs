using ConceptSuite.Discovery.Abstractions;
using TorchSharp;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// What the dictionaries whose learned state is their atom matrix W [C, D] share (NMF, sparse
/// dictionary learning, k-means): Decode x̂ = u·W, the atoms, and W stored as one tensor named
/// <see cref="StateKey"/>. Each method brings its fit and its encoder (u = argmin of its objective).
/// </summary>
public abstract class AtomDictionary(int concepts) : IConceptDictionary
{
    /// <summary>W [C, D], float32, contiguous; null before fitting or loading.</summary>
    protected Tensor? W;

    /// <summary>The tensor name of W in the stored state.</summary>
    protected abstract string StateKey { get; }

    public abstract string Method { get; }
    public int Concepts { get; } = concepts;
    public int InputDim { get; protected set; }
    public abstract bool NonNegativeCodes { get; }

    public abstract void Validate(DataStats stats);
    public abstract void Fit(IRowSource data, FitContext context);
    public abstract Tensor Encode(Tensor x);

    public Tensor Decode(Tensor codes) => codes.matmul(W ?? throw NotFitted());

    public Tensor Atoms() => (W ?? throw NotFitted()).clone();

    public virtual Dictionary<string, Tensor> SaveState() => new() { [StateKey] = Atoms() };

    public virtual void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        W?.Dispose();
        W = state[StateKey].to_type(torch.ScalarType.Float32).contiguous().clone();
        InputDim = (int)W.shape[1];
    }

    protected static InvalidOperationException NotFitted() => new("the dictionary is not fitted");

    public virtual void Dispose() => W?.Dispose();
}
