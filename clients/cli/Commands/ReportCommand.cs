using System.CommandLine;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept report ID`: a workflow's step table and its key numbers (from the summary step).</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("workflow-id") { Description = "The workflow (see `concept status`)." };
        var cmd = new Command("report", "Print a workflow's steps and key numbers.") { id };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var w = await c.Gateway.GetWorkflowAsync(new GetWorkflowRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            RunCommand.Summary(w);
            if (!await KeyNumbers.PrintAsync(c, w, ct))
                AnsiConsole.MarkupLineInterpolated($"[grey]workflow {w.Id} has no finished summary step (gateway.report)[/]");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
