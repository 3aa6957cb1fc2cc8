using System.Globalization;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Stages;
using Grpc.Net.Client;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// One kind of stage call a workflow step can make ("dataset.import", "discovery.fit", ...).
/// Executors are stateless; everything a run needs comes in the <see cref="StepContext"/>. An
/// executor must be deterministic in its inputs and options (same inputs → same artifact ids),
/// which is what makes steps safe to retry and to skip after a crash.
/// </summary>
public interface IStepExecutor
{
    /// <summary>The method name used in workflow specs.</summary>
    string Method { get; }
    /// <summary>The stage that serves the call when the step names none.</summary>
    string DefaultStage { get; }
    /// <summary>Artifact inputs (all required unless listed in <see cref="OptionalInputs"/>).</summary>
    IReadOnlyList<string> Inputs { get; }
    IReadOnlyList<string> OptionalInputs => [];
    /// <summary>Outputs it produces (artifact refs by name).</summary>
    IReadOnlyList<string> Outputs { get; }
    /// <summary>Options it understands (others are refused).</summary>
    IReadOnlyList<string> Options { get; }
    string Description { get; }

    Task<StepResult> ExecuteAsync(StepContext context);
}

/// <summary>What a step produced: artifacts by output name and final metrics.</summary>
public sealed record StepResult(IReadOnlyDictionary<string, ArtifactRef> Outputs, IReadOnlyDictionary<string, double> Metrics);

/// <summary>What a running step sees.</summary>
public sealed class StepContext(
    string workflowId, string step, string stage, IReadOnlyDictionary<string, string> inputs,
    IReadOnlyDictionary<string, string> options, StageClients stages, Action<StepProgress> report, CancellationToken ct)
{
    public string WorkflowId { get; } = workflowId;
    public string Step { get; } = step;
    /// <summary>The stage this step calls.</summary>
    public string Stage { get; } = stage;
    /// <summary>Resolved artifact ids by input name.</summary>
    public IReadOnlyDictionary<string, string> Inputs { get; } = inputs;
    public IReadOnlyDictionary<string, string> Options { get; } = options;
    public StageClients Stages { get; } = stages;
    public CancellationToken CancellationToken { get; } = ct;

    /// <summary>The channel to this step's stage.</summary>
    public GrpcChannel Channel => Stages.Channel(Stage);
    /// <summary>The channel to the shared artifact store.</summary>
    public GrpcChannel StoreChannel => Stages.Channel(StageClients.Store);

    public string Input(string name) => Inputs.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v)
        ? v : throw new InvalidInputException($"steps.{Step}.inputs.{name}", "is required");

    public string? OptionalInput(string name) => Inputs.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v) ? v : null;

    public string Option(string name, string fallback) => Options.TryGetValue(name, out var v) && v.Length > 0 ? v : fallback;

    /// <summary>An option written as "name=value;name=value" (empty: none); a pair without "=" is refused.</summary>
    public Dictionary<string, string> Pairs(string name)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in Option(name, "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new InvalidInputException($"steps.{Step}.options.{name}", $"'{pair}' is not name=value");
            pairs[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }
        return pairs;
    }

    public long Int(string name, long fallback, long min = long.MinValue, long max = long.MaxValue)
    {
        if (!Options.TryGetValue(name, out var v) || v.Length == 0) return fallback;
        if (!long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) || x < min || x > max)
            throw new InvalidInputException($"steps.{Step}.options.{name}", $"'{v}' is not an integer in [{min}, {max}]");
        return x;
    }

    public double Real(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!Options.TryGetValue(name, out var v) || v.Length == 0) return fallback;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !double.IsFinite(x) || x < min || x > max)
            throw new InvalidInputException($"steps.{Step}.options.{name}", $"'{v}' is not a number in [{min}, {max}]");
        return x;
    }

    public void Progress(long done, long total, string unit, string phase = "", IReadOnlyDictionary<string, double>? metrics = null, string message = "")
    {
        var p = new StepProgress { Step = Step, Progress = new JobProgress { Done = done, Total = total, Unit = unit, Phase = phase }, Message = message };
        if (metrics is not null) foreach (var (k, v) in metrics) p.Metrics[k] = v;
        report(p);
    }

    /// <summary>Forwards a stage job's event as step progress.</summary>
    public void Forward(JobEvent e)
    {
        var p = new StepProgress { Step = Step };
        switch (e.EventCase)
        {
            case JobEvent.EventOneofCase.Progress: p.Progress = e.Progress; break;
            case JobEvent.EventOneofCase.Metrics: foreach (var (k, v) in e.Metrics.Values) p.Metrics[k] = v; break;
            case JobEvent.EventOneofCase.Message: p.Message = e.Message.Text; break;
            default: return;
        }
        report(p);
    }
}

/// <summary>The known step methods, by name (a new method is one executor class and one DI line).</summary>
public sealed class StepRegistry(IEnumerable<IStepExecutor> executors)
{
    readonly Dictionary<string, IStepExecutor> _byMethod = executors.ToDictionary(e => e.Method, StringComparer.Ordinal);

    public IReadOnlyCollection<IStepExecutor> All => _byMethod.Values;

    public IStepExecutor Get(string method, string field) => _byMethod.TryGetValue(method, out var e) ? e
        : throw new InvalidInputException(field, $"unknown step method '{method}'; known: {string.Join(", ", _byMethod.Keys.Order())}");

    public bool Has(string method) => _byMethod.ContainsKey(method);
}
