using TorchSharp;

namespace ConceptSuite.Explain.Importance;

/// <summary>
/// The data of the strategic cluster graph (Fel et al. 2023, §5): the samples of one class are
/// clustered by their L2-normalised importance vectors φₙ/‖φₙ‖ (k-means), so each cluster is one
/// "strategy" the model uses for the class; each cluster reports its members, its exemplars (the
/// members nearest its centroid) and its dominant concepts (largest centroid importance).
/// </summary>
public sealed class StrategicClusterGraph(int clusters, int exemplars = 3, int dominantConcepts = 3, int seed = 0)
{
    public sealed record Cluster(int[] Members, int[] Exemplars, int[] DominantConcepts, double[] Centroid);

    public IReadOnlyList<Cluster> Build(torch.Tensor importance, long[] classes, long target)
    {
        using var scope = torch.NewDisposeScope();
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (classes.Length != phi.shape[0]) throw new Contracts.InvalidInputException("labels", $"has {classes.Length} entries for {phi.shape[0]} samples");
        var members = Enumerable.Range(0, classes.Length).Where(i => classes[i] == target).ToArray();
        if (members.Length < clusters)
            throw new Contracts.InvalidInputException("clusters", $"class {target} has {members.Length} samples, fewer than {clusters} clusters");
        var arr = ExplainTensors.ToArray2D(phi);
        int k = arr.GetLength(1);
        var rows = members.Select(i =>
        {
            var v = Enumerable.Range(0, k).Select(j => arr[i, j]).ToArray();
            var norm = Math.Sqrt(v.Sum(x => x * x));
            return norm > 0 ? v.Select(x => x / norm).ToArray() : v;
        }).ToArray();
        var fit = Core.Numerics.KMeans.Fit(rows, clusters, restarts: 10, seed: seed, field: "clusters");
        var result = new List<Cluster>();
        for (int c = 0; c < clusters; c++)
        {
            var idx = Enumerable.Range(0, rows.Length).Where(i => fit.Labels[i] == c).ToArray();
            var centroid = fit.Centers[c];
            var ex = idx.OrderBy(i => rows[i].Select((x, j) => (x - centroid[j]) * (x - centroid[j])).Sum()).ThenBy(i => i)
                .Take(exemplars).Select(i => members[i]).ToArray();
            var dom = Enumerable.Range(0, k).OrderByDescending(j => centroid[j]).ThenBy(j => j).Take(dominantConcepts).ToArray();
            result.Add(new Cluster(idx.Select(i => members[i]).ToArray(), ex, dom, centroid));
        }
        return result;
    }
}
