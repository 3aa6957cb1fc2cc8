using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using Google.Protobuf;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// The artifacts the workflows keep from garbage collection: every id a workflow names (its
/// parameters and inputs, each step's inputs and outputs). A workflow that finished (succeeded,
/// failed or was cancelled) before the retention cutoff keeps nothing; its record stays in the
/// workflow store, and resuming it recomputes what was collected.
/// </summary>
public sealed class WorkflowArtifactRoots(IWorkflowStore store) : IArtifactRoots
{
    public (IReadOnlyCollection<string> Ids, int Released) Roots(DateTime? finishedBefore)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        int released = 0;
        foreach (var w in All())
        {
            bool finished = w.State is WorkflowState.Succeeded or WorkflowState.Failed or WorkflowState.Cancelled;
            var last = (w.Updated ?? w.Created)?.ToDateTime();
            if (finishedBefore is { } cutoff && finished && last is { } t && t < cutoff)
            {
                released++;
                continue;
            }
            ids.UnionWith(ArtifactStore.IdsIn(JsonFormatter.Default.Format(w)));
        }
        return (ids, released);
    }

    /// <summary>Every workflow of the store, page by page.</summary>
    IEnumerable<WorkflowInfo> All()
    {
        WorkflowCursor? after = null;
        while (true)
        {
            var page = store.List(WorkflowState.Unspecified, 500, after);
            foreach (var w in page) yield return w;
            if (page.Count < 500) yield break;
            after = SqlWorkflowStore.CursorOf(page[^1]);
        }
    }
}
