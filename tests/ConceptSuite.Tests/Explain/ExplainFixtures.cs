using System.Runtime.CompilerServices;
using System.Text.Json;
using TorchSharp;

namespace ConceptSuite.Tests.Explain;

/// <summary>Reads the checked-in reference fixtures (each JSON names the command that made it).</summary>
static class ExplainFixtures
{
    static string Dir([CallerFilePath] string path = "") => Path.Combine(Path.GetDirectoryName(path)!, "Fixtures");

    public static JsonElement Load(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir(), name))).RootElement;

    public static torch.Tensor Matrix(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        return torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length], torch.ScalarType.Float64);
    }

    public static double[][] Rows(JsonElement e) => e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();

    /// <summary>A random float64 matrix from a seeded generator.</summary>
    public static torch.Tensor Randn(long seed, params long[] shape) =>
        torch.randn(shape, torch.ScalarType.Float64, generator: new torch.Generator((ulong)seed));
}
