using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Discovery.Abstractions;

/// <summary>Helpers over row sources.</summary>
public static class RowSources
{
    /// <summary>One pass: finite check, min, max.</summary>
    public static DataStats Scan(IRowSource data, string field, CancellationToken ct = default)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var b in data.Blocks(65536))
        {
            using var _ = b;
            ct.ThrowIfCancellationRequested();
            if (b.numel() == 0) continue;
            if (!b.isfinite().all().item<bool>()) throw new InvalidInputException(field, "holds NaN or Inf");
            min = Math.Min(min, b.min().item<float>());
            max = Math.Max(max, b.max().item<float>());
        }
        return new DataStats(data.Samples, data.Dim, min, max, field);
    }

    /// <summary>The first <paramref name="count"/> samples (or all) as one tensor.</summary>
    public static torch.Tensor Head(IRowSource data, long count, long? shuffleSeed = null)
    {
        var parts = new List<torch.Tensor>();
        long have = 0;
        foreach (var b in data.Blocks((int)Math.Min(count, 65536), shuffleSeed))
        {
            if (have >= count) { b.Dispose(); break; }
            long take = Math.Min(b.shape[0], count - have);
            parts.Add(take == b.shape[0] ? b : b.narrow(0, 0, take));
            have += take;
        }
        try { return parts.Count == 1 ? parts[0].clone() : torch.cat(parts, 0); }
        finally { foreach (var p in parts) p.Dispose(); }
    }

    /// <summary>All samples in memory (only below the in-memory threshold).</summary>
    public static torch.Tensor All(IRowSource data) => Head(data, data.Samples);
}
