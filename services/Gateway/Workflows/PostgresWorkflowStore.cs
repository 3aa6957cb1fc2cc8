using System.Data.Common;
using Npgsql;

namespace ConceptSuite.Gateway.Workflows;

/// <summary>
/// Workflow state in PostgreSQL (ConceptSuite:Gateway:PostgresConnectionString), for gateway
/// replicas on several hosts. The first replica to start creates the tables (under an advisory
/// lock, so replicas starting together do not race on the catalog).
/// </summary>
public sealed class PostgresWorkflowStore : SqlWorkflowStore
{
    /// <summary>Advisory lock key held while the schema is created ("cswf" in ASCII).</summary>
    const long SchemaLock = 0x63737766;

    readonly NpgsqlDataSource _source;

    public PostgresWorkflowStore(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Location = $"postgresql://{builder.Host}:{builder.Port}/{builder.Database}";
        _source = NpgsqlDataSource.Create(builder);
        using var c = Open();
        using var tx = c.BeginTransaction();
        Execute(tx, $"SELECT pg_advisory_xact_lock({SchemaLock})");
        Execute(tx, """
            CREATE TABLE IF NOT EXISTS workflows(
              id text COLLATE "C" PRIMARY KEY, name text NOT NULL, state integer NOT NULL,
              info text NOT NULL, created text COLLATE "C" NOT NULL, updated text NOT NULL,
              owner text, lease_until bigint NOT NULL DEFAULT 0, cancel_requested integer NOT NULL DEFAULT 0);
            CREATE INDEX IF NOT EXISTS workflows_created ON workflows(created DESC, id DESC);
            CREATE TABLE IF NOT EXISTS step_results(
              step_key text PRIMARY KEY, method text NOT NULL, result text NOT NULL, finished text NOT NULL);
            CREATE TABLE IF NOT EXISTS step_log(
              seq bigserial PRIMARY KEY, workflow_id text NOT NULL, step text NOT NULL,
              owner text NOT NULL, event text NOT NULL, at bigint NOT NULL);
            CREATE INDEX IF NOT EXISTS step_log_workflow ON step_log(workflow_id, seq);
            """);
        tx.Commit();
    }

    public override string Location { get; }

    protected override string NowMs => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS bigint)";

    protected override DbConnection Open() => _source.OpenConnection();

    public override void Dispose() => _source.Dispose();
}
