using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// Many-to-many groups of units across two networks (Li et al. 2016, §5, "spectral clustering"):
/// the units of both networks are the nodes of one graph with affinity W_ij = |corr(uᵢ, uⱼ)|
/// (zero diagonal) over the stacked activations [A | B]; the normalised spectral clustering of
/// Ng, Jordan and Weiss 2002 embeds each node in the top-k eigenvectors of D^{-½} W D^{-½},
/// normalises the rows, and runs k-means. Each group lists its units of A and of B.
/// </summary>
public sealed class UnitSpectralClustering(int groups, int seed = 0)
{
    public int Groups { get; } = groups >= 1 ? groups : throw new Contracts.InvalidInputException("spectral_groups", $"must be at least 1, got {groups}");

    /// <summary>Group label of each unit of A and of B, and the groups as unit lists.</summary>
    public sealed record Result(int[] LabelsA, int[] LabelsB, IReadOnlyList<(int[] UnitsA, int[] UnitsB)> GroupList);

    public Result Fit(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = ExplainTensors.Pair(a, b, 2);
        long da = x.shape[1], db = y.shape[1];
        if (Groups > da + db) throw new Contracts.InvalidInputException("spectral_groups", $"{Groups} groups exceed the {da + db} units of both sides");
        var z = UnitCorrelation.Standardize(torch.cat([x, y], 1));
        var w = (z.t().matmul(z) / z.shape[0]).abs();
        w = w - torch.diag(w.diagonal());
        var deg = w.sum([1]);
        var inv = torch.where(deg > 0, deg.clamp_min(1e-300).rsqrt(), torch.zeros_like(deg));
        var l = inv.unsqueeze(1) * w * inv.unsqueeze(0);
        var (_, vecs) = torch.linalg.eigh(l);
        var top = vecs.narrow(1, vecs.shape[1] - Groups, Groups);
        var norms = top.square().sum([1], keepdim: true).sqrt().clamp_min(1e-300);
        var emb = ExplainTensors.ToArray2D(top / norms);
        var rows = Enumerable.Range(0, emb.GetLength(0)).Select(i => Enumerable.Range(0, Groups).Select(j => emb[i, j]).ToArray()).ToArray();
        var labels = Core.Numerics.KMeans.Fit(rows, Groups, restarts: 10, seed: seed, field: "spectral_groups").Labels;
        var la = labels.Take((int)da).ToArray();
        var lb = labels.Skip((int)da).ToArray();
        var list = Enumerable.Range(0, Groups)
            .Select(g => (Enumerable.Range(0, la.Length).Where(i => la[i] == g).ToArray(), Enumerable.Range(0, lb.Length).Where(i => lb[i] == g).ToArray()))
            .ToList();
        return new Result(la, lb, list);
    }
}
