using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Server;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using ConceptSuite.Contracts.Inference;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Tests.Security;

public sealed class AuthenticationTests
{
    const string StageKey = "stage-key-for-tests";
    const string ClientKey = "client-key-for-tests";

    static GrpcChannel Channel(SuiteTestServer server, string? key) => server.ChannelWithKey(key);

    static async Task<StatusCode> CodeOf(Func<Task> call)
    {
        try { await call(); return StatusCode.OK; }
        catch (RpcException e) { return e.StatusCode; }
    }

    [Fact]
    public async Task AStageAloneRefusesKeylessCallsToEveryServiceAndHealthStaysOpen()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:Security:StageKeys:0", StageKey));
        using var none = Channel(server, null);
        using var client = Channel(server, ClientKey);   // a key of no role here: stages take stage keys only
        using var stage = Channel(server, StageKey);

        foreach (var ch in new[] { none, client })
        {
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () => await new EmbeddingService.EmbeddingServiceClient(ch).ListModelsAsync(new ListModelsRequest())));
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () => await new ArtifactService.ArtifactServiceClient(ch).ListArtifactsAsync(new ListArtifactsRequest())));
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () => await new GRPCInferenceService.GRPCInferenceServiceClient(ch).ServerLiveAsync(new ServerLiveRequest())));
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () =>
            {
                // Refused at the call's start: the answer is read without writing, since a write racing the
                // refusal ends the in-memory call as CANCELLED instead.
                using var echo = new TensorTransport.TensorTransportClient(ch).Echo();
                await echo.ResponseStream.MoveNext(CancellationToken.None);
            }));
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () =>
            {
                using var call = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(ch).ServerReflectionInfo();
                await call.ResponseStream.MoveNext(CancellationToken.None);
            }));
        }
        var health = await new Health.HealthClient(none).CheckAsync(new HealthCheckRequest { Service = "embedding" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        Assert.NotEmpty((await new EmbeddingService.EmbeddingServiceClient(stage).ListModelsAsync(new ListModelsRequest())).Models);
        Assert.True((await new GRPCInferenceService.GRPCInferenceServiceClient(stage).ServerLiveAsync(new ServerLiveRequest())).Live);
    }

    [Fact]
    public void ANonLoopbackListenWithoutKeysRefusesToStartUnlessAllowedOrKeyed()
    {
        var e = Assert.Throws<ArgumentException>(() => SuiteApp.Create(["--stages", "core", "--listen", "http://0.0.0.0:50999", "--metrics", ""]));
        Assert.Contains("http://0.0.0.0:50999", e.Message);
        Assert.Contains("--allow-unauthenticated", e.Message);
        // The metrics endpoint counts too.
        e = Assert.Throws<ArgumentException>(() => SuiteApp.Create(["--stages", "core", "--metrics", "http://0.0.0.0:50998"]));
        Assert.Contains("http://0.0.0.0:50998", e.Message);

        // Loopback, an explicit --allow-unauthenticated, or a key: the process builds.
        foreach (var args in new[]
        {
            new[] { "--stages", "core", "--listen", "http://127.0.0.1:50999", "--metrics", "" },
            ["--stages", "core", "--listen", "http://0.0.0.0:50999", "--metrics", "", "--allow-unauthenticated"],
            ["--stages", "core", "--listen", "http://0.0.0.0:50999", "--metrics", "", "--ConceptSuite:Security:StageKeys:0=k"],
        })
        {
            var app = SuiteApp.Create(args);
            ((IDisposable)app).Dispose();
        }
    }

    [Fact]
    public async Task TheServerBinaryExitsWithTwoNamingTheSwitchWhenAskedToListenOnAllInterfacesWithoutKeys()
    {
        using var server = ServerProcess.Launch(["--stages", "core", "--listen", $"http://0.0.0.0:{Loopback.FreePort()}", "--metrics", ""], listenArgs: false);
        Assert.True(server.WaitForExit(60), "the server did not exit:\n" + server.Output);
        Assert.Equal(2, server.Process.ExitCode);
        Assert.Contains("--allow-unauthenticated", server.Output);
        await Task.CompletedTask;
    }
}
