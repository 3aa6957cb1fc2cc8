using System.CommandLine;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept artifacts [--kind K]`: the artifacts the gateway can reach.</summary>
public static class ArtifactsCommand
{
    public static Command Create()
    {
        var kind = new Option<string?>("--kind", "-k") { Description = "Only this kind (dataset, activations, dictionary, bottleneck, report, ...)." };
        var cmd = new Command("artifacts", "List stored artifacts.") { kind };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var r = await c.Gateway.ListArtifactsAsync(new ListArtifactsRequest { Kind = parse.GetValue(kind) ?? "" }, cancellationToken: ct);
            var t = new Table().AddColumns("id", "kind", "size", "created", "tensors", "labels");
            foreach (var a in r.Artifacts)
                t.AddRow(a.Ref.Id[..16], a.Ref.Kind, Size(a.SizeBytes), a.Created.ToDateTime().ToString("yyyy-MM-dd HH:mm:ss"),
                    Markup.Escape(string.Join(", ", a.Tensors.Select(x => $"{x.Name}[{string.Join("×", x.Shape)}]"))),
                    Markup.Escape(string.Join(", ", a.Labels.Select(kv => $"{kv.Key}={kv.Value}"))));
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"[grey]{r.Artifacts.Count} artifact(s)[/]");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    static string Size(long b) => b switch
    {
        >= 1 << 30 => $"{b / (double)(1 << 30):0.0} GiB",
        >= 1 << 20 => $"{b / (double)(1 << 20):0.0} MiB",
        >= 1 << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };
}
