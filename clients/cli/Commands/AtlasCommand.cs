using System.CommandLine;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// `concept atlas ID -o file.html`: writes the workflow's concept atlas, the "atlas" artifact its
/// atlas.render step stored, fetched through the gateway (the gateway renders it; this command only
/// writes the bytes).
/// </summary>
public static class AtlasCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("workflow-id") { Description = "The workflow (see `concept status`)." };
        var output = new Option<string?>("--out", "-o") { Description = "Where to write the HTML (default: atlas-ID.html)." };
        var cmd = new Command("atlas", "Write a workflow's concept atlas as one HTML file.") { id, output };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var w = await c.Gateway.GetWorkflowAsync(new GetWorkflowRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            var path = await WriteAsync(c, w, parse.GetValue(output) ?? $"atlas-{w.Id}.html", ct);
            if (path is null)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] workflow {w.Id} has no atlas (no finished atlas.render step)");
                return ExitCodes.NotFound;
            }
            AnsiConsole.MarkupLineInterpolated($"[green]atlas:[/] {path}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Writes the workflow's atlas to <paramref name="path"/> (whole or not at all); null when it has none.</summary>
    public static async Task<string?> WriteAsync(Connection c, WorkflowInfo w, string path, CancellationToken ct)
    {
        var atlas = w.Steps.Where(s => s.State == WorkflowState.Succeeded).SelectMany(s => s.Outputs.Values).LastOrDefault(r => r.Kind == "atlas");
        if (atlas is null) return null;
        var request = new GetArtifactRequest { Id = atlas.Id, Tensors = { "html" } };
        var (_, tensors) = await ArtifactStreams.ReadAllAsync(c.Gateway.GetArtifact(request, cancellationToken: ct), atlas.Id, ct);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".partial";
        await File.WriteAllBytesAsync(temp, tensors["html"].Data, ct);
        File.Move(temp, full, overwrite: true);
        return full;
    }
}
