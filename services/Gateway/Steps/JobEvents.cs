using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Gateway.Steps;

/// <summary>Consumes a stage job's event stream: progress forwarded to the workflow, the result returned, an error thrown.</summary>
public static class JobEvents
{
    public static async Task<JobResult> ResultAsync(IAsyncStreamReader<JobEvent> events, StepContext ctx)
    {
        JobResult? result = null;
        while (await events.MoveNext(ctx.CancellationToken))
        {
            var e = events.Current;
            switch (e.EventCase)
            {
                case JobEvent.EventOneofCase.Result: result = e.Result; break;
                case JobEvent.EventOneofCase.Error:
                    var detail = e.Error.Field.Length > 0 && !e.Error.Message.StartsWith(e.Error.Field, StringComparison.Ordinal) ? $"{e.Error.Field}: {e.Error.Message}" : e.Error.Message;
                    throw new RpcException(new Status((StatusCode)e.Error.Code, detail));
                default: ctx.Forward(e); break;
            }
        }
        return result ?? throw new RpcException(new Status(StatusCode.DataLoss, $"stage '{ctx.Stage}' ended the job without a result"));
    }

    /// <summary>The job's artifact as the step's one output, with the job's metrics.</summary>
    public static StepResult AsStep(JobResult r, string output, IReadOnlyDictionary<string, double>? extra = null)
    {
        var metrics = r.Metrics.ToDictionary(kv => kv.Key, kv => kv.Value);
        if (extra is not null) foreach (var (k, v) in extra) metrics[k] = v;
        return new StepResult(new Dictionary<string, ArtifactRef> { [output] = r.Artifact.Ref }, metrics);
    }
}
