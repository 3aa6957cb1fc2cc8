using ScottPlot;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>The atlas's plots, drawn with ScottPlot as PNG, their text in <see cref="AtlasFonts"/>.</summary>
public static class AtlasPlots
{
    static Plot NewPlot()
    {
        _ = AtlasFonts.File;
        return new Plot();
    }

    /// <summary>Accuracy against the number of active concepts along a regularization path.</summary>
    public static byte[] SparsityAccuracy(IReadOnlyList<(double Sparsity, double Accuracy)> path)
    {
        var plt = NewPlot();
        var ordered = path.OrderBy(p => p.Sparsity).ToArray();
        var s = plt.Add.Scatter(ordered.Select(p => p.Sparsity).ToArray(), ordered.Select(p => p.Accuracy).ToArray());
        s.LegendText = "sparse concept model";
        s.MarkerSize = 7;
        plt.Title("Sparsity–accuracy path");
        plt.XLabel("active concepts per class");
        plt.YLabel("test accuracy");
        return plt.GetImageBytes(640, 400, ImageFormat.Png);
    }

    /// <summary>Fidelity curves: score as concepts are removed (or inserted) in order of importance.</summary>
    public static byte[] Fidelity(IReadOnlyDictionary<string, IReadOnlyList<(double X, double Y)>> curves)
    {
        var plt = NewPlot();
        foreach (var (name, pts) in curves.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var s = plt.Add.Scatter(pts.Select(p => p.X).ToArray(), pts.Select(p => p.Y).ToArray());
            s.LegendText = name;
        }
        plt.ShowLegend();
        plt.Title("Fidelity");
        plt.XLabel("fraction of concepts removed / inserted");
        plt.YLabel("score");
        return plt.GetImageBytes(640, 400, ImageFormat.Png);
    }

    /// <summary>One concept's importance for each class, as bars.</summary>
    public static byte[] Importance(IReadOnlyList<double> perClass, IReadOnlyList<string> classes)
    {
        var plt = NewPlot();
        var bars = plt.Add.Bars(perClass.ToArray());
        bars.Color = Colors.SteelBlue;
        var ticks = Enumerable.Range(0, perClass.Count).Select(i => new Tick(i, i < classes.Count ? classes[i] : $"class {i}")).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        // Below the tick marks: anchored at the axis, a rotated label's first letter lay under its tick.
        plt.Axes.Bottom.TickLabelStyle.OffsetX = 3;
        plt.Axes.Bottom.TickLabelStyle.OffsetY = 6;
        // Room for the longest rotated class name (the layout does not measure rotated labels).
        plt.Axes.Bottom.MinimumSize = 20 + 0.72f * 7 * Math.Min(24, classes.Select(c => c.Length).DefaultIfEmpty(6).Max());
        plt.Axes.Margins(bottom: 0);
        plt.Title("Importance per class", size: 12);
        plt.YLabel("importance");
        return plt.GetImageBytes(420, 300, ImageFormat.Png);
    }

    /// <summary>A concept's coefficient distribution where it is active, over log10 bins.</summary>
    public static byte[] Density(IReadOnlyList<(double Log10, long Count)> bins, double binWidth) =>
        Histogram(bins, binWidth, "Activation where present", "log10 coefficient", "samples", 320, 220);

    /// <summary>
    /// The firing-density histogram of a dictionary's latents: how many latents fire at each
    /// log10 rate (share of the scanned tokens where they are active).
    /// </summary>
    public static byte[] FiringDensity(IReadOnlyList<(double Log10, long Count)> bins, double binWidth) =>
        Histogram(bins, binWidth, "Latent firing density", "log10 firing rate (share of tokens)", "latents", 420, 260);

    static byte[] Histogram(IReadOnlyList<(double Log10, long Count)> bins, double binWidth, string title, string x, string y, int width, int height)
    {
        var plt = NewPlot();
        var bars = plt.Add.Bars(bins.Select(b => new Bar { Position = b.Log10 + binWidth / 2, Value = b.Count, Size = binWidth * 0.9 }).ToList());
        bars.Color = Colors.SlateGray;
        plt.Axes.Margins(bottom: 0);
        plt.Title(title, size: 12);
        plt.XLabel(x);
        plt.YLabel(y);
        return plt.GetImageBytes(width, height, ImageFormat.Png);
    }
}
