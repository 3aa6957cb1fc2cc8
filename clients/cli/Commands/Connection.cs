using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using ConceptSuite.Client;
using ConceptSuite.Server;
using Grpc.Core;
using Grpc.Net.Client;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// A connection to a gateway: the one named by --gateway, or an embedded server (all stages in
/// this process, real HTTP/2 on a free loopback port) over --data-dir.
/// </summary>
public sealed class Connection : IAsyncDisposable
{
    readonly WebApplication? _embedded;

    Connection(GrpcChannel channel, string address, WebApplication? embedded)
    {
        Channel = channel;
        Invoker = new PooledReceiveInvoker(channel.CreateCallInvoker());
        Address = address;
        _embedded = embedded;
    }

    public GrpcChannel Channel { get; }
    /// <summary>Calls on <see cref="Channel"/>, received tensor payloads parsed into pooled buffers.</summary>
    public CallInvoker Invoker { get; }
    public string Address { get; }
    public bool Embedded => _embedded is not null;
    public Contracts.GatewayService.GatewayServiceClient Gateway => new(Invoker);

    public static async Task<Connection> OpenAsync(ParseResult parse, CancellationToken ct)
    {
        var gateway = parse.GetValue(CliOptions.Gateway);
        var key = parse.GetValue(CliOptions.ApiKey);
        var ca = parse.GetValue(CliOptions.CaBundle);
        if (!string.IsNullOrEmpty(gateway))
            return new Connection(SuiteChannel.Create(gateway, new SuiteChannelOptions
            {
                ApiKey = key, CaBundlePath = string.IsNullOrEmpty(ca) ? null : ca, Tls = string.IsNullOrEmpty(ca) ? null : true,
            }), gateway, null);

        var dataDir = Path.GetFullPath(parse.GetValue(CliOptions.DataDir) ?? "data");
        int port = Loopback.FreePort();
        var address = $"http://127.0.0.1:{port}";
        var args = new List<string> { "--stages", "all", "--data-dir", dataDir, "--listen", address, "--metrics", "",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft=Warning" };
        if (!string.IsNullOrEmpty(key)) { args.Add($"--ConceptSuite:Security:ApiKeys:0={key}"); }
        var app = SuiteApp.Create(args.ToArray());
        await app.StartAsync(ct);
        return new Connection(SuiteChannel.Create(address, new SuiteChannelOptions { ApiKey = key }), $"embedded ({dataDir})", app);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        if (_embedded is not null)
        {
            await _embedded.StopAsync();
            await _embedded.DisposeAsync();
        }
    }

    /// <summary>Runs a command body with a connection, mapping failures to messages and exit codes.</summary>
    public static async Task<int> WithAsync(ParseResult parse, CancellationToken ct, Func<Connection, Task<int>> body)
    {
        try
        {
            await using var c = await OpenAsync(parse, ct);
            return await body(c);
        }
        catch (RpcException e) { return Report(e); }
        catch (Contracts.InvalidInputException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            AnsiConsole.MarkupLine("[yellow]interrupted[/]");
            return ExitCodes.Cancelled;
        }
        catch (IOException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return ExitCodes.Unreachable;
        }
    }

    public static int Report(RpcException e)
    {
        var (code, hint) = e.StatusCode switch
        {
            StatusCode.InvalidArgument => (ExitCodes.BadInput, ""),
            StatusCode.NotFound => (ExitCodes.NotFound, ""),
            StatusCode.Unauthenticated => (ExitCodes.Unreachable, " (pass --api-key or set CONCEPTSUITE_API_KEY)"),
            StatusCode.Unavailable => (ExitCodes.Unreachable, " (is the gateway running at the --gateway address?)"),
            StatusCode.Cancelled => (ExitCodes.Cancelled, ""),
            _ => (ExitCodes.WorkflowFailed, ""),
        };
        AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Status.Detail}{hint} [grey]({e.StatusCode})[/]");
        return code;
    }
}
