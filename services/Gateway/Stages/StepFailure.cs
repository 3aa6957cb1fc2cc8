using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Gateway.Stages;

/// <summary>What a failed step attempt says about trying again.</summary>
public enum StepFailure
{
    /// <summary>The stage is down, restarting or full: retry with backoff; the circuit breaker counts it.</summary>
    Transient,
    /// <summary>The stage failed inside (INTERNAL, UNKNOWN): retried once when the step is content-keyed, not counted by the breaker.</summary>
    Internal,
    /// <summary>The request itself is wrong or not allowed, or the step ran out of time: never retried, not counted.</summary>
    Permanent,
}

/// <summary>
/// The one classification of step failures behind the gateway's pipeline (<see cref="StageClients"/>).
/// A step is a pure function of its inputs and options (its key is their hash, its outputs are
/// content-addressed), so trying it again is always safe; the question is only whether another
/// attempt can answer differently. RESOURCE_EXHAUSTED means two things in gRPC: a full stage (job
/// slots, requests in flight: worth waiting for) and a message or stream larger than a limit (the
/// same request fails the same way every time).
/// </summary>
public static class StepFailures
{
    public static StepFailure Classify(Exception e) => e switch
    {
        StageUnavailableException u => u.Transient ? StepFailure.Transient : StepFailure.Permanent,
        RpcException { StatusCode: StatusCode.Unavailable or StatusCode.Aborted } => StepFailure.Transient,
        RpcException { StatusCode: StatusCode.ResourceExhausted } r => TooLarge(r.Status.Detail) ? StepFailure.Permanent : StepFailure.Transient,
        RpcException { StatusCode: StatusCode.Internal or StatusCode.Unknown } => StepFailure.Internal,
        ResourceExhaustedException r => TooLarge(r.Message) ? StepFailure.Permanent : StepFailure.Transient,
        _ => StepFailure.Permanent,
    };

    /// <summary>
    /// RESOURCE_EXHAUSTED about size rather than capacity: grpc's "Received/Sending message exceeds
    /// the maximum configured message size", and the suite's stream and request limits, which say
    /// "exceeds", "too large" or "larger than".
    /// </summary>
    public static bool TooLarge(string detail) =>
        detail.Contains("message size", StringComparison.OrdinalIgnoreCase)
        || detail.Contains("exceeds", StringComparison.OrdinalIgnoreCase)
        || detail.Contains("too large", StringComparison.OrdinalIgnoreCase)
        || detail.Contains("larger than", StringComparison.OrdinalIgnoreCase);
}
