using System.CommandLine;
using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept report ID`: writes the workflow's concept atlas (one self-contained HTML file).</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("workflow-id") { Description = "The workflow (see `concept status`)." };
        var output = new Option<string?>("--out", "-o") { Description = "Where to write the HTML (default: atlas-ID.html)." };
        var cmd = new Command("report", "Write a workflow's concept atlas as one HTML file.") { id, output };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var w = await c.Gateway.GetWorkflowAsync(new GetWorkflowRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            var path = await WriteAtlasAsync(c, w, parse.GetValue(output) ?? $"atlas-{w.Id}.html", ct);
            AnsiConsole.MarkupLineInterpolated($"[green]atlas:[/] {path}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    public static async Task<string> WriteAtlasAsync(Connection c, WorkflowInfo w, string path, CancellationToken ct)
    {
        var model = await AtlasBuilder.BuildAsync(c.Channel, w, ct);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        await File.WriteAllTextAsync(full, AtlasHtml.Render(model), ct);
        return full;
    }
}
