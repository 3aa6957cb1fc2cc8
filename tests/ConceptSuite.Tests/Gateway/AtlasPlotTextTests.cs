using ConceptSuite.Gateway.Atlas;
using SkiaSharp;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// Every plot kind of the atlas draws its text: the bands where only the title, the axis labels and
/// the tick labels can be are not blank. SkiaSharp's NoDependencies asset finds fonts only by scanning
/// the system's font folder, so on a machine without fonts the plots carried no text at all.
/// </summary>
public class AtlasPlotTextTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Pixels darker than mid-grey in the rectangle [x0, x1) × [y0, y1).</summary>
    static int Dark(byte[] png, int x0, int y0, int x1, int y1)
    {
        using var bmp = SKBitmap.Decode(png);
        int n = 0;
        for (int y = Math.Max(0, y0); y < Math.Min(bmp.Height, y1); y++)
            for (int x = Math.Max(0, x0); x < Math.Min(bmp.Width, x1); x++)
            {
                var c = bmp.GetPixel(x, y);
                if (c.Red + c.Green + c.Blue < 3 * 128) n++;
            }
        return n;
    }

    void Report(string plot, int title, int left, int bottom) =>
        output.WriteLine($"{plot}: dark pixels title band {title}, left band {left}, bottom band {bottom}");

    [Fact]
    public void TheFontIsLoadedFromAFile()
    {
        Assert.NotNull(AtlasFonts.File);
        Assert.True(File.Exists(AtlasFonts.File));
    }

    [Fact]
    public void TheSparsityPlotDrawsItsTitleAndAxisLabels()
    {
        var png = AtlasPlots.SparsityAccuracy([(1, 0.6), (3, 0.75), (6, 0.8), (12, 0.84)]);
        int title = Dark(png, 0, 0, 640, 28), left = Dark(png, 0, 0, 22, 400), bottom = Dark(png, 0, 380, 640, 400);
        Report("sparsity", title, left, bottom);
        Assert.True(title > 100 && left > 100 && bottom > 100);
    }

    [Fact]
    public void TheFidelityPlotDrawsItsTitleAxisLabelsAndLegend()
    {
        var png = AtlasPlots.Fidelity(new Dictionary<string, IReadOnlyList<(double X, double Y)>>
        {
            ["deletion"] = [(0, 0.9), (0.5, 0.4), (1, 0.1)],
            ["insertion"] = [(0, 0.1), (0.5, 0.7), (1, 0.9)],
        });
        int title = Dark(png, 0, 0, 640, 28), left = Dark(png, 0, 0, 22, 400), bottom = Dark(png, 0, 380, 640, 400);
        Report("fidelity", title, left, bottom);
        Assert.True(title > 100 && left > 100 && bottom > 100);
    }

    [Fact]
    public void TheImportanceBarsNameTheirClasses()
    {
        var png = AtlasPlots.Importance([0.5, 0.1, 0.3], ["sneaker", "sandal", "ankle boot"]);
        int left = Dark(png, 0, 0, 22, 300), bottom = Dark(png, 0, 230, 420, 300);
        Report("importance", 0, left, bottom);
        Assert.True(left > 50 && bottom > 100);
    }

    [Fact]
    public void TheDensityPlotDrawsItsTitleAndAxisLabels()
    {
        var png = AtlasPlots.Density([(-1.0, 3), (-0.75, 10), (-0.5, 7), (-0.25, 1)], 0.25);
        int title = Dark(png, 0, 0, 320, 20), left = Dark(png, 0, 0, 18, 220), bottom = Dark(png, 0, 205, 320, 220);
        Report("density", title, left, bottom);
        Assert.True(title > 50 && left > 50 && bottom > 50);
    }

    [Fact]
    public void TheFiringDensityPlotDrawsItsTitleAndAxisLabels()
    {
        var png = AtlasPlots.FiringDensity([(-4.0, 12), (-3.75, 40), (-3.5, 90), (-3.25, 30), (-1.0, 2)], 0.25);
        int title = Dark(png, 0, 0, 420, 20), left = Dark(png, 0, 0, 18, 260), bottom = Dark(png, 0, 245, 420, 260);
        Report("firing density", title, left, bottom);
        Assert.True(title > 50 && left > 50 && bottom > 50);
    }
}
