using System.CommandLine;
using System.Globalization;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Grpc.Core;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>`concept run WORKFLOW`: runs a built-in workflow (or a JSON step list) with live progress.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var workflow = new Argument<string>("workflow") { Description = "A built-in workflow (discover-name-cbm, ...) or a JSON file with a WorkflowSpec." };
        var parameters = new Option<string[]>("--param", "-p") { Description = "Workflow parameter NAME=VALUE (repeatable)." };
        var detach = new Option<bool>("--detach") { Description = "Leave the workflow running on the gateway when this command stops." };
        var atlas = new Option<string?>("--atlas") { Description = "Write the concept atlas (HTML; the workflow's atlas.render step makes it) here when the workflow succeeds." };
        var cmd = new Command("run", "Run a workflow and show its progress; exits 0 when it succeeded.") { workflow, parameters, detach, atlas };
        cmd.SetAction((parse, ct) =>
        {
            RunWorkflowRequest request;
            try { request = Request(parse.GetValue(workflow)!, parse.GetValue(parameters) ?? [], parse.GetValue(detach)); }
            catch (ArgumentException e)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
                return Task.FromResult(ExitCodes.BadInput);
            }
            return Connection.WithAsync(parse, ct, async c =>
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]gateway:[/] {c.Address}");
                var end = await RunAsync(c, request, ct);
                if (end is null) return ExitCodes.Cancelled;
                Summary(end);
                if (end.State != WorkflowState.Succeeded)
                {
                    AnsiConsole.MarkupLineInterpolated($"[red]workflow {end.Id} {Words(end.State)}:[/] {end.Error}");
                    AnsiConsole.MarkupLineInterpolated($"[grey]fix the cause, then resume with: concept run {parse.GetValue(workflow)} (same parameters) — finished steps are not redone[/]");
                    return end.State == WorkflowState.Cancelled ? ExitCodes.Cancelled : ExitCodes.WorkflowFailed;
                }
                await KeyNumbers.PrintAsync(c, end, ct);
                if (parse.GetValue(atlas) is { Length: > 0 } path)
                {
                    var written = await AtlasCommand.WriteAsync(c, end, path, ct);
                    if (written is null) AnsiConsole.MarkupLineInterpolated($"[yellow]workflow {end.Id} has no atlas step (atlas.render); nothing written to {path}[/]");
                    else AnsiConsole.MarkupLineInterpolated($"[green]atlas:[/] {written}");
                }
                AnsiConsole.MarkupLineInterpolated($"[green]workflow {end.Id} succeeded[/]");
                return ExitCodes.Ok;
            });
        });
        return cmd;
    }

    static RunWorkflowRequest Request(string workflow, string[] parameters, bool detach)
    {
        var r = new RunWorkflowRequest { Detach = detach };
        if (workflow.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(workflow)) throw new ArgumentException($"workflow file '{workflow}' does not exist");
            r.Spec = JsonParser.Default.Parse<WorkflowSpec>(File.ReadAllText(workflow));
        }
        else r.Builtin = workflow;
        foreach (var p in parameters)
        {
            int eq = p.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--param '{p}' must be NAME=VALUE");
            r.Parameters[p[..eq]] = p[(eq + 1)..];
        }
        return r;
    }

    /// <summary>Streams the workflow's events into progress bars; returns its final state.</summary>
    public static async Task<WorkflowInfo?> RunAsync(Connection c, RunWorkflowRequest request, CancellationToken ct)
    {
        using var call = c.Gateway.RunWorkflow(request, cancellationToken: ct);
        WorkflowInfo? end = null;
        await AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                while (await call.ResponseStream.MoveNext(ct))
                {
                    var e = call.ResponseStream.Current;
                    switch (e.EventCase)
                    {
                        case WorkflowEvent.EventOneofCase.Snapshot:
                            AnsiConsole.MarkupLineInterpolated($"[bold]{e.Snapshot.Name}[/] workflow [blue]{e.Snapshot.Id}[/] ({e.Snapshot.Steps.Count} steps, {Words(e.Snapshot.State)})");
                            foreach (var s in e.Snapshot.Steps)
                            {
                                var t = ctx.AddTask(Label(s.Name, s.Stage, s.Method), autoStart: false, maxValue: 1);
                                if (s.State == WorkflowState.Succeeded) { t.Value = 1; t.StopTask(); }
                                tasks[s.Name] = t;
                            }
                            break;
                        case WorkflowEvent.EventOneofCase.StepStarted:
                            if (tasks.TryGetValue(e.StepStarted.Step, out var started))
                            {
                                started.StartTask();
                                started.IsIndeterminate = true;
                                if (e.StepStarted.Attempt > 1) started.Description = Label(e.StepStarted.Step, e.StepStarted.Stage, e.StepStarted.Method) + $" [yellow](attempt {e.StepStarted.Attempt})[/]";
                            }
                            break;
                        case WorkflowEvent.EventOneofCase.StepProgress:
                            if (tasks.TryGetValue(e.StepProgress.Step, out var running) && e.StepProgress.Progress is { Total: > 0 } p)
                            {
                                running.IsIndeterminate = false;
                                running.MaxValue = p.Total;
                                running.Value = Math.Min(p.Done, p.Total);
                            }
                            if (e.StepProgress.Message.Length > 0)
                                AnsiConsole.MarkupLineInterpolated($"  [grey]{e.StepProgress.Step}: {e.StepProgress.Message}[/]");
                            break;
                        case WorkflowEvent.EventOneofCase.StepFinished:
                            var f = e.StepFinished;
                            if (tasks.TryGetValue(f.Name, out var done))
                            {
                                done.IsIndeterminate = false;
                                if (f.State == WorkflowState.Succeeded) done.Value = done.MaxValue;
                                done.StopTask();
                            }
                            AnsiConsole.MarkupLine(StepLine(f));
                            break;
                        case WorkflowEvent.EventOneofCase.Finished:
                            end = e.Finished;
                            break;
                    }
                }
            });
        return end;
    }

    static string Label(string step, string stage, string method) => Markup.Escape($"{step} ({stage}/{method})");

    public static string Words(WorkflowState s) => s.ToString().ToLowerInvariant();

    static string StepLine(StepInfo s)
    {
        var mark = s.State switch { WorkflowState.Succeeded => "[green]✓[/]", WorkflowState.Failed => "[red]✗[/]", _ => "[yellow]•[/]" };
        var secs = s.Started is not null && s.Finished is not null ? (s.Finished.ToDateTime() - s.Started.ToDateTime()).TotalSeconds : 0;
        var extra = s.Reused ? " [grey](reused)[/]" : $" [grey]{secs:0.0}s[/]";
        var metrics = string.Join("  ", Shown(s).Take(8).Select(kv => $"{kv.Key}={Format(kv.Value)}"));
        var err = s.State == WorkflowState.Failed ? $"\n    [red]{Markup.Escape(s.Error)}[/]" : "";
        return $"{mark} {Markup.Escape(s.Name)}{extra}  {Markup.Escape(metrics)}{err}";
    }

    public static string Format(double v) =>
        Math.Abs(v) >= 1e5 || (v == Math.Floor(v) && Math.Abs(v) < 1e5) ? v.ToString("0.##", CultureInfo.InvariantCulture) : v.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>The key numbers: every step's metrics and outputs.</summary>
    public static void Summary(WorkflowInfo w)
    {
        var table = new Table().Title($"{Markup.Escape(w.Name)} {w.Id}").AddColumns("step", "state", "outputs", "metrics");
        foreach (var s in w.Steps)
            table.AddRow(Markup.Escape(s.Name), Words(s.State) + (s.Reused ? " (reused)" : ""),
                Markup.Escape(string.Join("\n", s.Outputs.Select(o => $"{o.Key}: {o.Value.Id[..12]}"))),
                Markup.Escape(string.Join("\n", Shown(s).Select(kv => $"{kv.Key} = {Format(kv.Value)}"))));
        AnsiConsole.Write(table);
    }

    /// <summary>A step's metrics by name, without the points of a regularization path (the atlas plots those).</summary>
    static IEnumerable<KeyValuePair<string, double>> Shown(StepInfo s) =>
        s.Metrics.Where(kv => !kv.Key.StartsWith("path_", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal);
}
