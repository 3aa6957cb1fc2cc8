using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Stages;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Tests.Gateway;

/// <summary>Helpers for gateway tests: an in-process server whose gateway reaches its own stages in memory.</summary>
static class GatewayHarness
{
    /// <summary>Starts the server and points the gateway's self calls at the in-memory handler.</summary>
    public static async Task<SuiteTestServer> StartAsync(string stages = "all", params (string, string)[] settings)
    {
        var server = await SuiteTestServer.StartAsync(stages, null, settings);
        var test = (TestServer)server.Services.GetRequiredService<IServer>();
        server.Services.GetRequiredService<StageClients>().SelfHandler = () => test.CreateHandler();
        return server;
    }

    public static GrpcChannel Channel(SuiteTestServer server, string? apiKey)
    {
        var test = (TestServer)server.Services.GetRequiredService<IServer>();
        return SuiteChannel.Create("http://localhost", new SuiteChannelOptions { Handler = test.CreateHandler(), ApiKey = apiKey });
    }

    /// <summary>Uploads a float32 [rows, cols] tensor (values i*0.5 - row) as an artifact through the gateway.</summary>
    public static async Task<ArtifactInfo> PutMatrixAsync(GrpcChannel channel, int rows, int cols, string kind = "activations", string meta = "{\"model\":\"test\"}")
    {
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++) values[i] = i * 0.5f - i / cols;
        var t = HostTensor.FromFloats(values, rows, cols);
        using var call = new ConceptSuite.Contracts.GatewayService.GatewayServiceClient(channel).PutArtifact();
        await call.RequestStream.WriteAsync(new PutArtifactRequest { Header = new PutArtifactHeader { Kind = kind, MetadataJson = meta } });
        foreach (var b in t.ToBlocks("activations", 256 << 10)) await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = b });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    public static WorkflowStep Step(string name, string method, string stage = "", params (string, string)[] inputs)
    {
        var s = new WorkflowStep { Name = name, Method = method, Stage = stage };
        foreach (var (k, v) in inputs) s.Inputs[k] = v;
        return s;
    }

    /// <summary>Runs a built-in workflow with the given parameters; returns its final state.</summary>
    public static async Task<WorkflowInfo> RunBuiltinAsync(GrpcChannel channel, string name, TimeSpan timeout, params (string Name, string Value)[] parameters)
    {
        var request = new RunWorkflowRequest { Builtin = name };
        foreach (var (k, v) in parameters) request.Parameters[k] = v;
        return (await RunAsync(channel, request, timeout)).Last().Finished;
    }

    /// <summary>Runs a workflow and collects every event until the stream ends.</summary>
    public static async Task<List<WorkflowEvent>> RunAsync(GrpcChannel channel, RunWorkflowRequest request, TimeSpan? timeout = null)
    {
        var client = new ConceptSuite.Contracts.GatewayService.GatewayServiceClient(channel);
        using var call = client.RunWorkflow(request, deadline: DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60)));
        var events = new List<WorkflowEvent>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) events.Add(call.ResponseStream.Current);
        return events;
    }
}
