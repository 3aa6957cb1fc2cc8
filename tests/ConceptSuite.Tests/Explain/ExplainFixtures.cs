using System.Runtime.CompilerServices;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Grpc.Core;
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

    /// <summary>Writes a request stream: the config first, then each tensor as row blocks of at most <paramref name="maxBlockBytes"/>.</summary>
    public static Task SendAsync<T>(IClientStreamWriter<T> writer, T config, Func<TensorBlock, T> wrap, params (string Name, torch.Tensor Value)[] tensors) =>
        SendAsync(writer, config, wrap, 4096, tensors);

    public static async Task SendAsync<T>(IClientStreamWriter<T> writer, T config, Func<TensorBlock, T> wrap, int maxBlockBytes, params (string Name, torch.Tensor Value)[] tensors)
    {
        await writer.WriteAsync(config);
        foreach (var (name, value) in tensors)
            foreach (var b in TensorStreams.Split(value, name, null, maxBlockBytes))
                await writer.WriteAsync(wrap(b));
        await writer.CompleteAsync();
    }
}
