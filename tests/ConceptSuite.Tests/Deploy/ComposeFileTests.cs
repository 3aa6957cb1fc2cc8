using YamlDotNet.RepresentationModel;

namespace ConceptSuite.Tests.Deploy;

/// <summary>
/// Validates docker-compose.yml with docker-compose itself (<c>docker-compose config</c> needs no
/// engine) and checks the resolved file against the server: one service per stage running
/// <c>--stages &lt;stage&gt;</c>, stage health checks, GPU reservations, shared data volume,
/// settings the server binds, and gateway endpoints that reach each stage's gRPC port.
/// </summary>
public class ComposeFileTests
{
    static YamlMappingNode Resolve()
    {
        var (code, output, err) = DeployAssets.Run("docker-compose", ["-f", "docker-compose.yml", "config"]);
        Assert.True(code == 0, $"docker-compose config failed ({code}): {err}");
        return Assert.Single(DeployAssets.ParseDocuments(output));
    }

    [Fact]
    public void ComposeConfigValidatesAndRunsEveryStageFromOneImage()
    {
        var compose = Resolve();
        var services = compose.Map("services");
        Assert.Equal(DeployAssets.AllStages.OrderBy(s => s), services.Keys.OrderBy(s => s));
        var images = new HashSet<string>();
        foreach (var stage in DeployAssets.AllStages)
        {
            var svc = compose.At("services", stage)!;
            images.Add(svc.Str("image")!);
            Assert.Equal("deploy/Dockerfile", svc.Str("build", "dockerfile"));
            Assert.Equal(["--stages", stage], svc.Seq("command").Select(n => n.ToString()));
            var health = svc.Seq("healthcheck", "test").Select(n => n.ToString()).ToList();
            Assert.Equal(["CMD", "dotnet", "/app/conceptsuite-server.dll", "--probe", "--stages", stage], health);

            var settings = DeployAssets.BindServerSettings(svc.Map("environment"));
            Assert.Equal("0.0.0.0", new Uri(settings.Listen.Grpc).Host);
            // Beyond loopback: a stage key from the environment (the process refuses to start without
            // one), never --allow-unauthenticated; client keys only on the gateway.
            Assert.Single(settings.Security.StageKeys);
            Assert.False(settings.Security.AllowUnauthenticated);
            Assert.Equal(stage == "gateway" ? 1 : 0, settings.Security.ApiKeys.Count);
            var volume = svc.Seq("volumes").Select(v => v.ToString()).Single(v => v.Split(':')[1] == settings.Suite.DataDir);
            Assert.True(compose.At("volumes", volume.Split(':')[0]) is not null, $"{stage}: {volume} is not a named volume");

            var devices = svc.Seq("deploy", "resources", "reservations", "devices");
            if (DeployAssets.GpuStages.Contains(stage))
            {
                var gpu = Assert.Single(devices);
                Assert.Equal("nvidia", gpu.Str("driver"));
                Assert.Equal(["gpu"], gpu.Seq("capabilities").Select(n => n.ToString()));
            }
            else Assert.Empty(devices);
        }
        Assert.Single(images);

        var gateway = DeployAssets.BindServerSettings(compose.Map("services", "gateway", "environment"));
        Assert.Equal("cpu", gateway.Suite.Device);
        int port = new Uri(gateway.Listen.Grpc).Port;
        foreach (var stage in DeployAssets.AllStages.Where(s => s != "gateway"))
        {
            Assert.Equal($"dns:///{stage}:{port}", gateway.Endpoints[stage]);
            Assert.Equal("service_healthy", compose.Str("services", "gateway", "depends_on", stage, "condition"));
        }
        Assert.Contains(compose.Seq("services", "gateway", "ports"), p => p.Str("target") == port.ToString() || p.ToString().EndsWith($":{port}"));
    }
}
