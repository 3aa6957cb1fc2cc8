using ConceptSuite.Client;
using ConceptSuite.Server;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace ConceptSuite.Tests.Infrastructure;

/// <summary>
/// The real server (SuiteApp) in process on ASP.NET's TestServer, with its own temporary data
/// directory, and a gRPC channel to it. Dispose to stop it and delete the directory.
/// </summary>
public sealed class SuiteTestServer : IAsyncDisposable
{
    readonly WebApplication _app;

    SuiteTestServer(WebApplication app, string dataDir, GrpcChannel channel)
    {
        _app = app; DataDir = dataDir; Channel = channel;
    }

    public string DataDir { get; }
    public GrpcChannel Channel { get; }
    public IServiceProvider Services => _app.Services;

    /// <param name="stages">--stages value ("all", "discovery", ...).</param>
    /// <param name="settings">Extra configuration, e.g. ("ConceptSuite:MaxInFlightRequests", "2").</param>
    public static async Task<SuiteTestServer> StartAsync(string stages = "all", string? dataDir = null, params (string Key, string Value)[] settings)
    {
        dataDir ??= Path.Combine(Path.GetTempPath(), "cs-test-" + Guid.NewGuid().ToString("N"));
        var args = new List<string> { "--stages", stages, "--data-dir", dataDir };
        foreach (var (k, v) in settings) args.Add($"--{k}={v}");
        var app = SuiteApp.Create(args.ToArray(), b => b.WebHost.UseTestServer());
        await app.StartAsync();
        return new SuiteTestServer(app, dataDir, ChannelTo(app, null));
    }

    static GrpcChannel ChannelTo(WebApplication app, string? apiKey) =>
        SuiteChannel.Create("http://localhost", new SuiteChannelOptions { Handler = app.GetTestServer().CreateHandler(), ApiKey = apiKey });

    /// <summary>Another in-memory channel to this server, sending <paramref name="apiKey"/> (none when null); the caller disposes it.</summary>
    public GrpcChannel ChannelWithKey(string? apiKey) => ChannelTo(_app, apiKey);

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(DataDir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
