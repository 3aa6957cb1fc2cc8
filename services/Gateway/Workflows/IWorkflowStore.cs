using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// Durable workflow state shared by every gateway replica: one row per workflow (its
/// <see cref="WorkflowInfo"/>) with a lease (owner id and expiry), one row per finished step key
/// (its outputs, so a step is never computed twice), and an append-only log of step transitions
/// with the replica that made each. SQLite (<see cref="SqliteWorkflowStore"/>) is the embedded
/// default; PostgreSQL (<see cref="PostgresWorkflowStore"/>) when
/// ConceptSuite:Gateway:PostgresConnectionString is set, for replicas on several hosts.
/// </summary>
/// <remarks>
/// Ownership: a replica runs a workflow only while it holds the workflow's lease. A claim is one
/// conditional UPDATE that succeeds when the row has no owner, the lease expired, or the claimant
/// owns it already; every later write of a running workflow is conditional on the owner too, so a
/// replica that lost its lease (paused past the expiry, cut off) cannot overwrite the state of the
/// one that took over. Lease times come from the database's clock.
/// </remarks>
public interface IWorkflowStore : IDisposable
{
    /// <summary>Where the state lives, for logs (a file path, or the PostgreSQL host and database).</summary>
    string Location { get; }

    /// <summary>Records a new workflow without an owner; false (nothing written) when the id exists.</summary>
    bool Insert(WorkflowInfo info);

    /// <summary>
    /// Writes the state of a workflow <paramref name="owner"/> holds, extending its lease, and
    /// appends <paramref name="log"/> (if any) in the same transaction; false, writing nothing,
    /// when another replica owns the workflow now.
    /// </summary>
    bool SaveOwned(WorkflowInfo info, string owner, TimeSpan lease, StepLogEntry? log = null);

    WorkflowInfo? Find(string id);

    /// <summary>
    /// One page of workflows, newest first (then by id, descending): those created before
    /// <paramref name="after"/> (the last row of the previous page), at most <paramref name="limit"/>.
    /// </summary>
    List<WorkflowInfo> List(WorkflowState state, int limit, WorkflowCursor? after = null);

    /// <summary>
    /// Takes the workflow's lease for <paramref name="owner"/> when it has no owner, its lease
    /// expired, or <paramref name="owner"/> holds it already; false when another replica holds a live lease.
    /// </summary>
    bool TryClaim(string id, string owner, TimeSpan lease);

    /// <summary>Extends a held lease; says whether it is still held and whether a cancel was requested.</summary>
    LeaseState Renew(string id, string owner, TimeSpan lease);

    /// <summary>Gives the lease up (the workflow ended, or the replica stops); clears a cancel request.</summary>
    void Release(string id, string owner);

    /// <summary>Asks the owner of a running workflow to cancel it (it sees the request when it renews its lease).</summary>
    void RequestCancel(string id);

    /// <summary>
    /// Workflows left running or pending whose lease a replica may take: no owner, or an expired lease.
    /// </summary>
    List<string> Orphans();

    /// <summary>The stored result of a finished step key, or null.</summary>
    StepInfo? FindStepResult(string stepKey);

    void SaveStepResult(StepInfo step);

    /// <summary>The step transitions of a workflow in the order they were written.</summary>
    List<StepLogEntry> StepLog(string workflowId);
}

/// <summary>What a lease renewal found.</summary>
public readonly record struct LeaseState(bool Held, bool CancelRequested);

/// <summary>A position in the workflow list: the creation time and id of the last row returned.</summary>
public sealed record WorkflowCursor(string Created, string Id);

/// <summary>One step transition: which replica (<paramref name="Owner"/>) moved which step of which workflow into which state.</summary>
public sealed record StepLogEntry(string WorkflowId, string Step, string Owner, string Event, DateTime At);
