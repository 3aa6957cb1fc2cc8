using System.CommandLine;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept methods [--json]`: every method family of every stage the gateway reaches, with option schemas.</summary>
public static class MethodsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the ListMethodsResponse as JSON." };
        var family = new Option<string?>("--family", "-f") { Description = "Only this family (dictionary, workflow_step, ...)." };
        var cmd = new Command("methods", "List the method families of every stage: methods, papers and option schemas.") { json, family };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var r = await c.Gateway.ListMethodsAsync(new ListMethodsRequest { Family = parse.GetValue(family) ?? "" }, cancellationToken: ct);
            if (parse.GetValue(json))
            {
                Console.WriteLine(new JsonFormatter(JsonFormatter.Settings.Default.WithIndentation()).Format(r));
                return ExitCodes.Ok;
            }
            foreach (var f in r.Families)
            {
                var t = new Table().Title($"{Markup.Escape(f.Stage)} / {Markup.Escape(f.Name)} [grey](selected by {Markup.Escape(f.SelectedBy)})[/]")
                    .AddColumns("method", "description", "options (default)");
                foreach (var m in f.Methods)
                {
                    var about = Markup.Escape(m.Description) + (m.Paper.Length > 0 ? $"\n[grey]{Markup.Escape(m.Paper)}[/]" : "");
                    t.AddRow(Markup.Escape(m.Name), about, Markup.Escape(string.Join("\n", m.Options.Select(o => $"{o.Name}: {o.Type} = {o.DefaultValue}"))));
                }
                AnsiConsole.Write(t);
            }
            AnsiConsole.MarkupLineInterpolated($"[grey]{r.Families.Count} famil{(r.Families.Count == 1 ? "y" : "ies")}, {r.Families.Sum(f => f.Methods.Count)} methods[/]");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
