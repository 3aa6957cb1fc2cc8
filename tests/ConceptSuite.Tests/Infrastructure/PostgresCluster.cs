using ConceptSuite.Client;
using Npgsql;

namespace ConceptSuite.Tests.Infrastructure;

/// <summary>
/// A private PostgreSQL cluster for one test: initdb into a fresh folder under /tmp, then
/// pg_ctl start on a free loopback port with its socket in the same folder (trust authentication,
/// loopback only, fsync off); dispose stops it (immediate) and deletes the folder. Debian's
/// binaries (package postgresql, scripts/prereqs.sh) are under /usr/lib/postgresql/N/bin. PostgreSQL
/// refuses to run as root: as root the cluster belongs to the postgres account the package creates,
/// and initdb and pg_ctl run as that account (runuser).
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    readonly string _root;
    readonly string _data;
    bool _running;

    PostgresCluster(string bin, string root)
    {
        Bin = bin; _root = root; _data = Path.Combine(root, "data");
    }

    /// <summary>The folder holding initdb, pg_ctl and postgres.</summary>
    public string Bin { get; }

    public int Port { get; private set; }

    /// <summary>Connection string of the superuser "postgres" to database <paramref name="database"/>.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Username = "postgres", Database = database, Timeout = 15 }.ToString();

    static bool IsRoot => Environment.UserName == "root";

    /// <summary>The newest /usr/lib/postgresql/N/bin holding initdb.</summary>
    static string FindBin()
    {
        var dirs = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [];
        var bin = dirs.Select(d => Path.Combine(d, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb")))
            .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0).FirstOrDefault();
        return bin ?? throw new InvalidOperationException("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; scripts/prereqs.sh installs the Debian package postgresql");
    }

    /// <summary>Runs a cluster tool, as the postgres account when this process is root.</summary>
    async Task<(int Code, string Out)> ToolAsync(string tool, params string[] args)
    {
        var path = Path.Combine(Bin, tool);
        var (code, o, e) = IsRoot
            ? await ExternalTool.RunAsync("runuser", ["-u", "postgres", "--", path, .. args], _root, 120)
            : await ExternalTool.RunAsync(path, args, _root, 120);
        return (code, o + e);
    }

    public static async Task<PostgresCluster> StartAsync()
    {
        var root = Path.Combine("/tmp", "cs-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var cluster = new PostgresCluster(FindBin(), root);
        try
        {
            if (IsRoot)
            {
                var (code, _, err) = await ExternalTool.RunAsync("chown", ["postgres:postgres", root]);
                if (code != 0) throw new InvalidOperationException($"chown postgres {root} failed: {err}");
            }
            var init = await cluster.ToolAsync("initdb", "-D", cluster._data, "-U", "postgres", "--auth=trust", "--locale=C", "-E", "UTF8", "--no-sync");
            if (init.Code != 0) throw new InvalidOperationException("initdb failed:\n" + init.Out);
            for (int attempt = 1; ; attempt++)
            {
                cluster.Port = Loopback.FreePort();
                var options = $"-p {cluster.Port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100";
                var start = await cluster.ToolAsync("pg_ctl", "-D", cluster._data, "-o", options, "-l", Path.Combine(root, "server.log"), "-w", "-t", "60", "start");
                if (start.Code == 0) { cluster._running = true; return cluster; }
                // The port was taken meanwhile: try another (three in all).
                var log = File.Exists(Path.Combine(root, "server.log")) ? File.ReadAllText(Path.Combine(root, "server.log")) : "";
                if (attempt == 3 || !log.Contains("could not bind")) throw new InvalidOperationException($"pg_ctl start failed:\n{start.Out}\n{log}");
            }
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var c = new NpgsqlConnection(ConnectionString());
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", c);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        if (_running)
        {
            _running = false;
            try { ToolAsync("pg_ctl", "-D", _data, "-m", "immediate", "-w", "stop").GetAwaiter().GetResult(); }
            catch (Exception) { /* the folder goes below either way */ }
        }
        try { Directory.Delete(_root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
