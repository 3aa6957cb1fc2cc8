using System.Diagnostics;
using TorchSharp;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Wall time of a training step split by phase, summed over the steps taken while it is attached
/// (<see cref="SparseAutoencoder.Profile"/>), and the temporaries the steps allocated (tensors left in
/// the step's dispose scope, their element bytes). Phases appear in the order first seen.
/// </summary>
public sealed class StepProfile
{
    readonly List<string> _order = [];
    readonly Dictionary<string, double> _seconds = [];
    long _mark;

    /// <summary>Steps recorded.</summary>
    public int Steps { get; private set; }
    /// <summary>Tensors the recorded steps allocated and released (summed over steps).</summary>
    public long Temporaries { get; private set; }
    /// <summary>Bytes of those tensors' elements (views count their own extent).</summary>
    public long TemporaryBytes { get; private set; }

    /// <summary>Seconds per phase, summed over the recorded steps, in the order first seen.</summary>
    public IReadOnlyList<(string Phase, double Seconds)> Phases => _order.Select(p => (p, _seconds[p])).ToList();

    /// <summary>Starts the clock for the next phase.</summary>
    public void Start() => _mark = Stopwatch.GetTimestamp();

    /// <summary>Charges the time since the last mark to <paramref name="phase"/> and restarts the clock.</summary>
    public void Lap(string phase)
    {
        long now = Stopwatch.GetTimestamp();
        if (!_seconds.ContainsKey(phase)) { _order.Add(phase); _seconds[phase] = 0; }
        _seconds[phase] += Stopwatch.GetElapsedTime(_mark, now).TotalSeconds;
        _mark = Stopwatch.GetTimestamp();
    }

    /// <summary>Counts the tensors left in a step's scope before it is disposed, and ends the step.</summary>
    public void EndStep(DisposeScope scope)
    {
        foreach (var d in scope.DisposablesView)
            if (d is torch.Tensor t && !t.IsInvalid) { Temporaries++; TemporaryBytes += t.numel() * t.ElementSize; }
        Steps++;
    }
}
