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

/// <summary>
/// A dictionary trained by steps on mini-batches (the sparse autoencoders): the caller owns the
/// pass over the data, so one read of a block can train several dictionaries.
/// </summary>
public interface IIncrementalDictionary : IConceptDictionary
{
    /// <summary>Passes over the data.</summary>
    int Epochs { get; }
    /// <summary>Rows per optimisation step.</summary>
    int BatchSize { get; }
    /// <summary>Initialises parameters (may read a sample of the data for initialisation and
    /// normalisation statistics).</summary>
    void Begin(IRowSource data, FitContext context);
    /// <summary>One optimisation step on a batch [b, D]; returns the training loss.</summary>
    double Step(torch.Tensor batch);
    /// <summary>Ends training (final projection of parameters).</summary>
    void End();
    /// <summary>Steps taken so far.</summary>
    long Steps { get; }
    /// <summary>Full training state (parameters, optimiser moments, counters) for checkpoints.</summary>
    Dictionary<string, torch.Tensor> TrainingState();
    /// <summary>Restores <see cref="TrainingState"/> after <see cref="Begin"/>.</summary>
    void RestoreTrainingState(IReadOnlyDictionary<string, torch.Tensor> state);
}

/// <summary>Summary statistics of the data gathered before fitting (one pass or while spooling).</summary>
public sealed record DataStats(long Samples, int Dim, double Min, double Max, string Field);

/// <summary>What a fit sees besides the data: seed, cancellation, progress and metrics.</summary>
public sealed class FitContext
{
    public long Seed { get; init; }
    public CancellationToken CancellationToken { get; init; }
    /// <summary>(done, total, unit, phase).</summary>
    public Action<long, long, string, string>? Progress { get; init; }
    /// <summary>(step, named values).</summary>
    public Action<long, IReadOnlyDictionary<string, double>>? Metrics { get; init; }

    public static FitContext Default(long seed = 0) => new() { Seed = seed };
}
