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
            var t = new Table().AddColumns("id", "kind", "size", "created", "tensors", "labels");
            int count = 0;
            // The gateway lists a page at a time (oldest first); follow next_page_token to the end.
            var request = new ListArtifactsRequest { Kind = parse.GetValue(kind) ?? "" };
            do
            {
                var r = await c.Gateway.ListArtifactsAsync(request, cancellationToken: ct);
                count += r.Artifacts.Count;
                foreach (var a in r.Artifacts)
                    t.AddRow(a.Ref.Id[..16], a.Ref.Kind, Size(a.SizeBytes), a.Created.ToDateTime().ToString("yyyy-MM-dd HH:mm:ss"),
                        Markup.Escape(string.Join(", ", a.Tensors.Select(x => $"{x.Name}[{string.Join("×", x.Shape)}]"))),
                        Markup.Escape(string.Join(", ", a.Labels.Select(kv => $"{kv.Key}={kv.Value}"))));
                request.PageToken = r.NextPageToken;
            } while (request.PageToken.Length > 0);
            AnsiConsole.Write(t);
            AnsiConsole.MarkupLineInterpolated($"[grey]{count} artifact(s)[/]");
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
