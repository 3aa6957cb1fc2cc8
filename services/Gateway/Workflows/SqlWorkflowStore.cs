using System.Data.Common;
using ConceptSuite.Contracts;
using Google.Protobuf;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// The SQL both workflow stores share (SQLite and PostgreSQL accept the same statements here:
/// named parameters, ON CONFLICT, RETURNING); a subclass opens connections, creates the schema
/// and says how its database reads the clock. Lease expiries and log times are milliseconds since
/// the Unix epoch on the database's clock, so replicas on hosts with skewed clocks agree.
/// </summary>
public abstract class SqlWorkflowStore : IWorkflowStore
{
    static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public abstract string Location { get; }

    /// <summary>An open connection (the caller disposes it).</summary>
    protected abstract DbConnection Open();

    /// <summary>The SQL expression for the database's current time, milliseconds since the Unix epoch.</summary>
    protected abstract string NowMs { get; }

    public virtual void Dispose() { }

    protected static int Execute(DbConnection c, string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = Command(c, sql, args);
        return cmd.ExecuteNonQuery();
    }

    /// <summary>As <see cref="Execute(DbConnection, string, ValueTuple{string, object}[])"/>, inside <paramref name="tx"/>.</summary>
    protected static int Execute(DbTransaction tx, string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = Command(tx.Connection!, sql, args);
        cmd.Transaction = tx;
        return cmd.ExecuteNonQuery();
    }

    protected static DbCommand Command(DbConnection c, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = n;
            p.Value = v ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    static string Iso(Google.Protobuf.WellKnownTypes.Timestamp? t) => (t ?? new()).ToDateTime().ToString("O");
    static long Ms(TimeSpan t) => (long)Math.Ceiling(t.TotalMilliseconds);

    public bool Insert(WorkflowInfo info)
    {
        info.Updated = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow);
        using var c = Open();
        return Execute(c, """
            INSERT INTO workflows(id, name, state, info, created, updated, owner, lease_until, cancel_requested)
            VALUES(@id, @name, @state, @info, @created, @updated, NULL, 0, 0) ON CONFLICT(id) DO NOTHING
            """,
            ("@id", info.Id), ("@name", info.Name), ("@state", (int)info.State), ("@info", Json.Format(info)),
            ("@created", Iso(info.Created)), ("@updated", Iso(info.Updated))) == 1;
    }

    public bool SaveOwned(WorkflowInfo info, string owner, TimeSpan lease, StepLogEntry? log = null)
    {
        info.Updated = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow);
        using var c = Open();
        using var tx = c.BeginTransaction();
        var n = Execute(tx, $"UPDATE workflows SET state=@state, info=@info, updated=@updated, lease_until={NowMs} + @ms WHERE id=@id AND owner=@owner",
            ("@id", info.Id), ("@state", (int)info.State), ("@info", Json.Format(info)), ("@updated", Iso(info.Updated)),
            ("@owner", owner), ("@ms", Ms(lease)));
        if (n != 1) return false; // disposing the transaction rolls back (nothing was written)
        if (log is not null)
            Execute(tx, $"INSERT INTO step_log(workflow_id, step, owner, event, at) VALUES(@w, @s, @o, @e, {NowMs})",
                ("@w", log.WorkflowId), ("@s", log.Step), ("@o", log.Owner), ("@e", log.Event));
        tx.Commit();
        return true;
    }

    public WorkflowInfo? Find(string id)
    {
        using var c = Open();
        using var cmd = Command(c, "SELECT info FROM workflows WHERE id=@id", ("@id", id));
        return cmd.ExecuteScalar() is string s ? Parser.Parse<WorkflowInfo>(s) : null;
    }

    public List<WorkflowInfo> List(WorkflowState state, int limit, WorkflowCursor? after = null)
    {
        var where = new List<string>();
        var args = new List<(string, object?)> { ("@n", limit) };
        if (state != WorkflowState.Unspecified) { where.Add("state=@state"); args.Add(("@state", (int)state)); }
        if (after is not null)
        {
            where.Add("(created < @c OR (created = @c AND id < @i))");
            args.Add(("@c", after.Created)); args.Add(("@i", after.Id));
        }
        using var c = Open();
        using var cmd = Command(c, $"SELECT info FROM workflows {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} ORDER BY created DESC, id DESC LIMIT @n",
            [.. args]);
        var list = new List<WorkflowInfo>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(Parser.Parse<WorkflowInfo>(r.GetString(0)));
        return list;
    }

    /// <summary>The cursor after <paramref name="info"/> in <see cref="List"/>'s order.</summary>
    public static WorkflowCursor CursorOf(WorkflowInfo info) => new(Iso(info.Created), info.Id);

    public bool TryClaim(string id, string owner, TimeSpan lease)
    {
        using var c = Open();
        return Execute(c, $"UPDATE workflows SET owner=@owner, lease_until={NowMs} + @ms WHERE id=@id AND (owner IS NULL OR owner=@owner OR lease_until < {NowMs})",
            ("@id", id), ("@owner", owner), ("@ms", Ms(lease))) == 1;
    }

    public LeaseState Renew(string id, string owner, TimeSpan lease)
    {
        using var c = Open();
        using var cmd = Command(c, $"UPDATE workflows SET lease_until={NowMs} + @ms WHERE id=@id AND owner=@owner RETURNING cancel_requested",
            ("@id", id), ("@owner", owner), ("@ms", Ms(lease)));
        var v = cmd.ExecuteScalar();
        return v is null or DBNull ? new LeaseState(false, false) : new LeaseState(true, Convert.ToInt64(v) != 0);
    }

    public void Release(string id, string owner)
    {
        using var c = Open();
        Execute(c, "UPDATE workflows SET owner=NULL, lease_until=0, cancel_requested=0 WHERE id=@id AND owner=@owner", ("@id", id), ("@owner", owner));
    }

    public void RequestCancel(string id)
    {
        using var c = Open();
        Execute(c, "UPDATE workflows SET cancel_requested=1 WHERE id=@id", ("@id", id));
    }

    public List<string> Orphans()
    {
        using var c = Open();
        using var cmd = Command(c, $"SELECT id FROM workflows WHERE state IN (@running, @pending) AND (owner IS NULL OR lease_until < {NowMs}) ORDER BY created, id",
            ("@running", (int)WorkflowState.Running), ("@pending", (int)WorkflowState.Pending));
        var ids = new List<string>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) ids.Add(r.GetString(0));
        return ids;
    }

    public StepInfo? FindStepResult(string stepKey)
    {
        using var c = Open();
        using var cmd = Command(c, "SELECT result FROM step_results WHERE step_key=@k", ("@k", stepKey));
        return cmd.ExecuteScalar() is string s ? Parser.Parse<StepInfo>(s) : null;
    }

    public void SaveStepResult(StepInfo step)
    {
        using var c = Open();
        Execute(c, """
            INSERT INTO step_results(step_key, method, result, finished) VALUES(@k, @m, @r, @f)
            ON CONFLICT(step_key) DO UPDATE SET method=excluded.method, result=excluded.result, finished=excluded.finished
            """,
            ("@k", step.StepKey), ("@m", step.Method), ("@r", Json.Format(step)), ("@f", DateTime.UtcNow.ToString("O")));
    }

    public List<StepLogEntry> StepLog(string workflowId)
    {
        using var c = Open();
        using var cmd = Command(c, "SELECT workflow_id, step, owner, event, at FROM step_log WHERE workflow_id=@w ORDER BY seq", ("@w", workflowId));
        var list = new List<StepLogEntry>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new StepLogEntry(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3),
                DateTime.UnixEpoch.AddMilliseconds(Convert.ToInt64(r.GetValue(4)))));
        return list;
    }
}
