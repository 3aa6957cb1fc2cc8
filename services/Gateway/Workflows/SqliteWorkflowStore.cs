using System.Data.Common;
using ConceptSuite.Core.Hosting;
using Microsoft.Data.Sqlite;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// The embedded workflow store: SQLite at {DataDir}/gateway/workflows.db (WAL journal, full
/// sync). Processes on one host may share it (SQLite locks the file); replicas on several hosts
/// need <see cref="PostgresWorkflowStore"/>, since SQLite's WAL is unsafe on a network volume.
/// </summary>
public sealed class SqliteWorkflowStore : SqlWorkflowStore
{
    readonly string _connection;

    public SqliteWorkflowStore(SuiteOptions options)
    {
        var dir = Path.Combine(Path.GetFullPath(options.DataDir), "gateway");
        Directory.CreateDirectory(dir);
        Location = Path.Combine(dir, "workflows.db");
        _connection = new SqliteConnectionStringBuilder { DataSource = Location, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
        using var c = Open();
        Execute(c, """
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS workflows(
              id TEXT PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL,
              info TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
              owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS step_results(
              step_key TEXT PRIMARY KEY, method TEXT NOT NULL, result TEXT NOT NULL, finished TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS step_log(
              seq INTEGER PRIMARY KEY AUTOINCREMENT, workflow_id TEXT NOT NULL, step TEXT NOT NULL,
              owner TEXT NOT NULL, event TEXT NOT NULL, at INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS step_log_workflow ON step_log(workflow_id, seq);
            """);
        // Databases written before leases existed: add the lease columns (rows start unowned).
        var columns = new HashSet<string>();
        using (var cmd = Command(c, "SELECT name FROM pragma_table_info('workflows')"))
        using (var r = cmd.ExecuteReader())
            while (r.Read()) columns.Add(r.GetString(0));
        foreach (var (name, type) in new[] { ("owner", "TEXT"), ("lease_until", "INTEGER NOT NULL DEFAULT 0"), ("cancel_requested", "INTEGER NOT NULL DEFAULT 0") })
            if (!columns.Contains(name)) Execute(c, $"ALTER TABLE workflows ADD COLUMN {name} {type}");
        Execute(c, "CREATE INDEX IF NOT EXISTS workflows_created ON workflows(created DESC, id DESC)");
    }

    public override string Location { get; }

    protected override string NowMs => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    protected override DbConnection Open()
    {
        var c = new SqliteConnection(_connection);
        c.Open();
        Execute(c, "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;");
        return c;
    }
}
