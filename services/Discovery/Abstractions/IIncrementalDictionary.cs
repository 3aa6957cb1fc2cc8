using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

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
