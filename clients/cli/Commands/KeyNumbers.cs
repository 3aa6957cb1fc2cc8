using ConceptSuite.Contracts;
using ConceptSuite.Gateway.Atlas;
using ConceptSuite.Gateway.Steps;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// The numbers a researcher reads first, from a workflow's summary step (method gateway.report):
/// held-out accuracy of the linear probe vs the concept models, the dictionary's R² and L0,
/// completeness and fidelity, and the top named concepts.
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
        var (info, _) = await AtlasBuilder.DownloadAsync(c.Channel, report.Id, ct, ["global_importance"]);
        var top = ReportStep.TopConcepts(info.MetadataJson);
        if (top.Count == 0) return true;
        var concepts = new Table().Title("top named concepts (by importance in the sparse probe)").AddColumns("concept", "name", "similarity", "importance", "most used by");
        foreach (var t in top)
            concepts.AddRow(t.Concept.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(t.Name), RunCommand.Format(t.Similarity),
                RunCommand.Format(t.Importance), Markup.Escape(t.Class));
        AnsiConsole.Write(concepts);
        return true;
    }
}
