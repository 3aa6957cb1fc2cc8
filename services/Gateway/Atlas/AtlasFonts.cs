namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// The atlas's font, loaded from a file. The Linux SkiaSharp asset the suite ships
/// (NoDependencies) has no fontconfig and only scans the system's font folder, so on a machine
/// without fonts every title, axis label, tick label and legend entry was drawn as nothing.
/// The file is <c>CONCEPTSUITE_ATLAS_FONT</c> when set, else DejaVu Sans from Debian's and
/// Ubuntu's <c>fonts-dejavu-core</c> (installed by <c>scripts/prereqs.sh</c> and the server image).
/// </summary>
public static class AtlasFonts
{
    /// <summary>Environment variable naming a TrueType file to draw the atlas's text with.</summary>
    public const string Variable = "CONCEPTSUITE_ATLAS_FONT";

    /// <summary>The family name plots ask for once the file is loaded.</summary>
    public const string Family = "ConceptSuite Atlas Sans";

    static readonly string[] Candidates =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];

    static readonly Lazy<string?> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The loaded file, or null when none was found (plots then carry no text; the atlas says so).</summary>
    public static string? File => Loaded.Value;

    /// <summary>What a reader is told when no font was found.</summary>
    public static string Missing =>
        $"The plots carry no text: no font file was found. Install fonts-dejavu-core or set {Variable} to a .ttf file.";

    static string? Load()
    {
        var chosen = Environment.GetEnvironmentVariable(Variable);
        var path = !string.IsNullOrEmpty(chosen) ? chosen : Candidates.FirstOrDefault(System.IO.File.Exists);
        if (path is null || !System.IO.File.Exists(path)) return null;
        ScottPlot.Fonts.AddFontFile(Family, path, bold: false, italic: false);
        ScottPlot.Fonts.AddFontFile(Family, path, bold: true, italic: false);
        ScottPlot.Fonts.Default = Family;
        return path;
    }
}
