using System.CommandLine;
using ConceptSuite.Server;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept serve`: the server with all stages (or --stages) in this process.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var stages = new Option<string>("--stages") { Description = "all, core, or a comma list of stages", DefaultValueFactory = _ => "all" };
        var listen = new Option<string>("--listen") { Description = "gRPC address", DefaultValueFactory = _ => "http://127.0.0.1:50051" };
        var cmd = new Command("serve", "Run the ConceptSuite server (all stages in one process by default) until Ctrl+C.") { stages, listen };
        cmd.TreatUnmatchedTokensAsErrors = false;
        cmd.SetAction(async (parse, ct) =>
        {
            var args = new List<string> { "--stages", parse.GetValue(stages)!, "--listen", parse.GetValue(listen)!,
                "--data-dir", Path.GetFullPath(parse.GetValue(CliOptions.DataDir) ?? "data") };
            var key = parse.GetValue(CliOptions.ApiKey);
            if (!string.IsNullOrEmpty(key)) args.Add($"--ConceptSuite:Security:ApiKeys:0={key}");
            args.AddRange(parse.UnmatchedTokens);
            try
            {
                var app = SuiteApp.Create(args.ToArray());
                await app.RunAsync(ct);
                return ExitCodes.Ok;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message);
                return ExitCodes.BadInput;
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"cannot listen on {parse.GetValue(listen)}: {e.Message}");
                return ExitCodes.Unreachable;
            }
        });
        return cmd;
    }
}
