using System.Text.Json;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// The numbers a researcher reads first, from a workflow's summary step (method gateway.report):
/// held-out accuracy of the linear probe vs the concept models, the dictionary's R² and L0,
/// completeness and fidelity (the step's metrics), and the top named concepts (the metadata of
/// the summary artifact, fetched through the gateway).
/// </summary>
public static class KeyNumbers
{
    static readonly (string Metric, string Label)[] Rows =
    [
        ("probe_accuracy", "linear probe accuracy (test)"),
        ("sparse_probe_accuracy", "sparse concept probe accuracy (test)"),
        ("sparse_probe_concepts_per_class", "  concepts per class (max)"),
        ("pcbm_h_accuracy", "PCBM-h accuracy (test)"),
        ("pcbm_h_concepts_only_train_accuracy", "  its concept part alone (train)"),
        ("dictionary_r2", "dictionary R² (train)"),
        ("dictionary_val_r2", "dictionary R² (test)"),
        ("dictionary_l0", "dictionary L0 (active concepts per image)"),
        ("dictionary_dead_fraction", "dictionary dead fraction"),
        ("completeness", "completeness η of the sparse probe vs the probe"),
        ("deletion_area", "deletion area (lower is better)"),
        ("insertion_area", "insertion area (higher is better)"),
    ];

    /// <summary>Prints the key numbers when the workflow has a summary step; returns whether it had one.</summary>
    public static async Task<bool> PrintAsync(Connection c, WorkflowInfo w, CancellationToken ct)
    {
        var step = w.Steps.LastOrDefault(s => s.Method == "gateway.report" && s.State == WorkflowState.Succeeded);
        if (step is null || !step.Outputs.TryGetValue("report", out var report)) return false;
        var table = new Table().Title("key numbers").AddColumns("measure", "value");
        foreach (var (metric, label) in Rows)
            if (step.Metrics.TryGetValue(metric, out var v)) table.AddRow(Markup.Escape(label), RunCommand.Format(v));
        AnsiConsole.Write(table);
        var request = new GetArtifactRequest { Id = report.Id, Tensors = { "global_importance" } };
        var (info, _) = await ArtifactStreams.ReadAllAsync(c.Gateway.GetArtifact(request, cancellationToken: ct), report.Id, ct);
        using var doc = JsonDocument.Parse(info.MetadataJson);
        if (!doc.RootElement.TryGetProperty("top_concepts", out var top) || top.ValueKind != JsonValueKind.Array || top.GetArrayLength() == 0) return true;
        var concepts = new Table().Title("top named concepts (by importance in the sparse probe)").AddColumns("concept", "name", "similarity", "importance", "most used by");
        foreach (var t in top.EnumerateArray())
            concepts.AddRow(t.GetProperty("concept").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(t.GetProperty("name").GetString() ?? ""), RunCommand.Format(t.GetProperty("similarity").GetDouble()),
                RunCommand.Format(t.GetProperty("importance").GetDouble()), Markup.Escape(t.GetProperty("class").GetString() ?? ""));
        AnsiConsole.Write(concepts);
        return true;
    }
}
