using System.CommandLine;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept status [ID]`: workflows and their states, or one workflow's steps.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var id = new Argument<string?>("workflow-id") { Description = "Show this workflow's steps.", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("status", "List workflows (or one workflow's steps) and the built-in workflows.") { id };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            if (parse.GetValue(id) is { Length: > 0 } one)
            {
                var w = await c.Gateway.GetWorkflowAsync(new GetWorkflowRequest { Id = one }, cancellationToken: ct);
                RunCommand.Summary(w);
                if (w.Error.Length > 0) AnsiConsole.MarkupLineInterpolated($"[red]{w.Error}[/]");
                return ExitCodes.Ok;
            }
            // The newest page of workflows; the total says when there are more.
            var list = await c.Gateway.ListWorkflowsAsync(new ListWorkflowsRequest(), cancellationToken: ct);
            var t = new Table().Title($"workflows at {Markup.Escape(c.Address)}").AddColumns("id", "name", "state", "steps done", "updated", "error");
            foreach (var w in list.Workflows)
                t.AddRow(w.Id, Markup.Escape(w.Name), RunCommand.Words(w.State),
                    $"{w.Steps.Count(s => s.State == WorkflowState.Succeeded)}/{w.Steps.Count}",
                    w.Updated?.ToDateTime().ToString("yyyy-MM-dd HH:mm:ss") ?? "", Markup.Escape(w.Error));
            AnsiConsole.Write(t);
            if (list.NextPageToken.Length > 0)
                AnsiConsole.MarkupLineInterpolated($"[grey]the {list.Workflows.Count} newest workflows (ListWorkflows pages; the Python client's Suite.workflows() reads them all)[/]");
            var d = await c.Gateway.DescribeWorkflowsAsync(new DescribeWorkflowsRequest(), cancellationToken: ct);
            var b = new Table().Title("built-in workflows").AddColumns("name", "steps", "parameters (defaults)");
            foreach (var s in d.Builtins)
                b.AddRow(Markup.Escape(s.Name), Markup.Escape(string.Join(" → ", s.Steps.Select(x => x.Name))),
                    Markup.Escape(string.Join(", ", s.Defaults.Select(kv => $"{kv.Key}={kv.Value}"))));
            AnsiConsole.Write(b);
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
