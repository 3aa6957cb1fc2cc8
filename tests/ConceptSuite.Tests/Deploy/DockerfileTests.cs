using System.Text.RegularExpressions;
using ConceptSuite.Server;

namespace ConceptSuite.Tests.Deploy;

/// <summary>
/// deploy/Dockerfile cannot be built here (no container engine), so its instructions are read and
/// checked against the server: the settings it bakes in bind to the server's options, the ports it
/// exposes are the ones those settings listen on, it starts and health-probes the server's own
/// assembly, runs as a non-root user with the data directory as a volume, and passes the torch
/// backend to the build.
/// </summary>
public class DockerfileTests
{
    static readonly string Text = File.ReadAllText(Path.Combine(DeployAssets.RepoRoot, "deploy", "Dockerfile"));

    /// <summary>Instructions of the final (runtime) stage, continuation lines joined.</summary>
    static List<(string Op, string Args)> RuntimeInstructions()
    {
        var joined = Regex.Replace(Text, @"\\\r?\n", " ");
        var lines = joined.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        int from = lines.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal));
        return lines.Skip(from).Select(l => { var i = l.IndexOf(' '); return (l[..i], l[(i + 1)..].Trim()); }).ToList();
    }

    [Fact]
    public void RuntimeStageMatchesTheServer()
    {
        var ins = RuntimeInstructions();
        string dll = $"/app/{typeof(SuiteApp).Assembly.GetName().Name}.dll";

        var env = new Dictionary<string, string?>();
        foreach (var (_, args) in ins.Where(i => i.Op == "ENV"))
            foreach (Match m in Regex.Matches(args, @"(\S+?)=(\S*)"))
                if (m.Groups[1].Value.StartsWith("ConceptSuite__", StringComparison.Ordinal)) env[m.Groups[1].Value] = m.Groups[2].Value;
        var settings = DeployAssets.BindServerSettings(env);
        var grpc = new Uri(settings.Listen.Grpc);
        var metrics = new Uri(settings.Listen.Metrics);
        Assert.Equal("0.0.0.0", grpc.Host);

        var exposed = ins.Where(i => i.Op == "EXPOSE").SelectMany(i => i.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        Assert.Contains(grpc.Port.ToString(), exposed);
        Assert.Contains(metrics.Port.ToString(), exposed);
        Assert.Contains(ins, i => i.Op == "VOLUME" && i.Args.Contains($"\"{settings.Suite.DataDir}\""));
        var user = Assert.Single(ins, i => i.Op == "USER").Args;
        Assert.DoesNotContain(user, new[] { "root", "0", "0:0" });
        Assert.Equal($"[\"dotnet\", \"{dll}\"]", Assert.Single(ins, i => i.Op == "ENTRYPOINT").Args);
        var health = Assert.Single(ins, i => i.Op == "HEALTHCHECK").Args;
        Assert.EndsWith($"CMD [\"dotnet\", \"{dll}\", \"--probe\"]", health);
        Assert.Contains(ins, i => i.Op == "COPY" && i.Args == "--from=build /out /app");
    }

    [Fact]
    public void BuildStagePublishesTheServerWithTheChosenTorchBackend()
    {
        Assert.Matches(@"ARG TORCH_BACKEND=cpu", Text);
        Assert.Matches(@"dotnet publish services/Server/ConceptSuite\.Server\.csproj -c Release[^\n]*\n?\s*-p:TorchBackend=\$\{TORCH_BACKEND\}", Text);
        Assert.Matches(@"dotnet restore services/Server/ConceptSuite\.Server\.csproj -p:TorchBackend=\$\{TORCH_BACKEND\}", Text);
        // Every project the server references is copied before the restore.
        var csproj = File.ReadAllText(Path.Combine(DeployAssets.RepoRoot, "services", "Server", "ConceptSuite.Server.csproj"));
        foreach (Match m in Regex.Matches(csproj, @"ProjectReference Include=""\.\./([^/]+)/([^""]+)"""))
            Assert.Contains($"COPY services/{m.Groups[1].Value}/{m.Groups[2].Value} services/{m.Groups[1].Value}/", Text);
    }
}
