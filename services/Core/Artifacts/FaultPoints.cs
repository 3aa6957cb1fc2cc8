using System.Diagnostics;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// A test-only crash hook. With CONCEPTSUITE_KILL_AT=POINT (or POINT:DETAIL) in its environment
/// the process kills itself with SIGKILL, exactly as <c>kill -9</c> would, when it reaches that
/// point, so crash tests can stop it at a place no outside signal can time. The points:
/// <list type="bullet">
/// <item><c>artifact.commit</c> (DETAIL: the artifact kind), reached inside <see cref="ArtifactStore"/>'s
/// commit after the artifact's files are written and flushed in its temporary folder and before
/// the rename that publishes it;</item>
/// <item><c>workflow.step</c> (DETAIL: the step's name), reached by the gateway when a step has
/// started and its Running state is stored, before any of its work.</item>
/// </list>
/// Unset (always, outside tests) it does nothing.
/// </summary>
public static class FaultPoints
{
    /// <summary>The environment variable that names the point.</summary>
    public const string Variable = "CONCEPTSUITE_KILL_AT";

    static readonly string? Target = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } v ? v : null;

    /// <summary>Kills the process when <see cref="Variable"/> names <paramref name="point"/> (with or without this detail).</summary>
    public static void Reach(string point, string detail)
    {
        if (Target is null || (Target != point && Target != point + ":" + detail)) return;
        Console.Error.WriteLine($"{Variable}={Target}: killing the process at {point}:{detail}");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite);
    }
}
