using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// Durable workflow state in SQLite ({DataDir}/gateway/workflows.db, WAL journal): one row per
/// workflow (its <see cref="WorkflowInfo"/> as protobuf JSON, rewritten in one transaction at
/// every step transition) and one row per finished step key (its outputs), so a step is never
/// computed twice and a crash loses at most the step that was running.
/// </summary>
public sealed class WorkflowStore
{
    readonly string _connection;
    static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));
    static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public WorkflowStore(IOptions<SuiteOptions> options)
    {
        var dir = Path.Combine(Path.GetFullPath(options.Value.DataDir), "gateway");
        Directory.CreateDirectory(dir);
        Path_ = Path.Combine(dir, "workflows.db");
        _connection = new SqliteConnectionStringBuilder { DataSource = Path_, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS workflows(
              id TEXT PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL,
              info TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS step_results(
              step_key TEXT PRIMARY KEY, method TEXT NOT NULL, result TEXT NOT NULL, finished TEXT NOT NULL);
            """);
    }

    public string Path_ { get; }

    SqliteConnection Open()
    {
        var c = new SqliteConnection(_connection);
        c.Open();
        Execute(c, "PRAGMA busy_timeout=5000;");
        return c;
    }

    static void Execute(SqliteConnection c, string sql, params (string, object)[] args)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Inserts or replaces a workflow's state.</summary>
    public void Save(WorkflowInfo info)
    {
        info.Updated = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow);
        using var c = Open();
        Execute(c, """
            INSERT INTO workflows(id, name, state, info, created, updated) VALUES($id, $name, $state, $info, $created, $updated)
            ON CONFLICT(id) DO UPDATE SET state=$state, info=$info, updated=$updated;
            """,
            ("$id", info.Id), ("$name", info.Name), ("$state", (int)info.State), ("$info", Json.Format(info)),
            ("$created", info.Created.ToDateTime().ToString("O")), ("$updated", info.Updated.ToDateTime().ToString("O")));
    }

    public WorkflowInfo? Find(string id)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT info FROM workflows WHERE id=$id";
        cmd.Parameters.AddWithValue("$id", id);
        return cmd.ExecuteScalar() is string s ? Parser.Parse<WorkflowInfo>(s) : null;
    }

    /// <summary>Workflows, newest first, optionally only those in <paramref name="state"/>.</summary>
    public List<WorkflowInfo> List(WorkflowState state = WorkflowState.Unspecified)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = state == WorkflowState.Unspecified
            ? "SELECT info FROM workflows ORDER BY created DESC"
            : "SELECT info FROM workflows WHERE state=$s ORDER BY created DESC";
        cmd.Parameters.AddWithValue("$s", (int)state);
        var list = new List<WorkflowInfo>();
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(Parser.Parse<WorkflowInfo>(r.GetString(0)));
        return list;
    }

    /// <summary>The stored result of a finished step key, or null.</summary>
    public StepInfo? FindStepResult(string stepKey)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT result FROM step_results WHERE step_key=$k";
        cmd.Parameters.AddWithValue("$k", stepKey);
        return cmd.ExecuteScalar() is string s ? Parser.Parse<StepInfo>(s) : null;
    }

    public void SaveStepResult(StepInfo step)
    {
        using var c = Open();
        Execute(c, "INSERT OR REPLACE INTO step_results(step_key, method, result, finished) VALUES($k, $m, $r, $f)",
            ("$k", step.StepKey), ("$m", step.Method), ("$r", Json.Format(step)), ("$f", DateTime.UtcNow.ToString("O")));
    }
}
