using Grpc.Core;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Stages;
using Grpc.Net.Client;

namespace ConceptSuite.Gateway.Steps;

/// <summary>What a running step sees (its options are already in the executor's typed record).</summary>
public sealed class StepContext(
    WorkflowInfo workflow, string step, string stage, IReadOnlyDictionary<string, string> inputs,
    StageClients stages, int blockBytes, Action<StepProgress> report, CancellationToken ct)
{
    /// <summary>The workflow as it stood when this step started: its id, name and the steps before this one.</summary>
    public WorkflowInfo Workflow { get; } = workflow;
    public string WorkflowId => Workflow.Id;
    public string Step { get; } = step;
    /// <summary>The stage this step calls.</summary>
    public string Stage { get; } = stage;
    /// <summary>Resolved artifact ids by input name.</summary>
    public IReadOnlyDictionary<string, string> Inputs { get; } = inputs;
    public StageClients Stages { get; } = stages;
    public CancellationToken CancellationToken { get; } = ct;
    /// <summary>The payload of each tensor block a step writes (the gateway's SuiteOptions.BlockBytes).</summary>
    public int BlockBytes { get; } = blockBytes;

    /// <summary>Calls to this step's stage (with the shared-memory path where the stage shares the host).</summary>
    public CallInvoker Channel => Stages.Invoker(Stage);
    /// <summary>Calls to the shared artifact store.</summary>
    public CallInvoker StoreChannel => Stages.Invoker(StageClients.Store);

    public string Input(string name) => Inputs.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v)
        ? v : throw new InvalidInputException($"steps.{Step}.inputs.{name}", "is required");

    public string? OptionalInput(string name) => Inputs.TryGetValue(name, out var v) && !string.IsNullOrEmpty(v) ? v : null;

    /// <summary>The error field of one of this step's options.</summary>
    public string OptionField(string name) => $"steps.{Step}.options.{name}";

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
