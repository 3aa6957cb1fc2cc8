using ConceptSuite.Core.Methods;
using ConceptSuite.Core.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.Metrics;

/// <summary>
/// The three metrics of Aysel, Cai and Prügel-Bennett 2025 ("Concept-Based Explainable Artificial
/// Intelligence: Metrics and Benchmarks"), from local importances φ [N, K], ground-truth concept
/// labels G [N, K] (1 = present) and, for location, concept maps and ground-truth masks [N, K, H, W]:
/// <list type="bullet">
/// <item>global importance of concept k for class c: GI_ck = mean_{n: yₙ = c} φ_nk, normalised so
/// Σ_k |GI_ck| = 1;</item>
/// <item>existence: for each sample its top-k concepts by φ; the fraction of them that are present
/// (G = 1), averaged over samples — "are the concepts the model relies on in the image?";</item>
/// <item>location: for each sample, each of its top-k concepts that is present, the share of the
/// concept map's mass inside the ground-truth mask, Σ m·g / Σ m (energy-based pointing), averaged
/// over those (sample, concept) pairs — "does the map fall on the concept?".</item>
/// </list>
/// The top-k concepts are either each sample's own (largest φₙ) or its class's (largest GI of the
/// sample's label: what the model relies on for that class, whether or not the image shows it).
/// <para>
/// Two options of location address why the paper's form can rate a shortcut model well: it
/// averages only over relied-on concepts that are present, so a model relying on a background
/// concept is judged on the few images that happen to show that background, and there a large
/// mask makes the score easy (a uniform map scores the mask's area share, ≈ 0.84 for a background
/// against ≈ 0.15 for an object). <c>allRelied</c> averages over every (sample, top-k concept)
/// pair: an absent concept's mask is empty, so none of its map falls inside and it scores 0.
/// <c>chanceCorrected</c> scores each pair (s − a)/(1 − a), a = the mask's share of the image: a
/// uniform map scores 0, a map inside the mask 1 (a mask covering the whole image scores 0).
/// </para>
/// </summary>
public static class ConceptTrust
{
    public static double[,] GlobalImportance(Tensor importance, long[] labels, int classes)
    {
        using var scope = torch.NewDisposeScope();
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (labels.Length != phi.shape[0]) throw new Contracts.InvalidInputException("labels", $"has {labels.Length} entries for {phi.shape[0]} samples");
        long k = phi.shape[1];
        var result = new double[classes, k];
        var arr = ExplainTensors.ToArray2D(phi);
        for (int c = 0; c < classes; c++)
        {
            var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            if (rows.Length == 0) continue;
            double norm = 0;
            for (int j = 0; j < k; j++) { result[c, j] = rows.Average(i => arr[i, j]); norm += Math.Abs(result[c, j]); }
            if (norm > 0) for (int j = 0; j < k; j++) result[c, j] /= norm;
        }
        return result;
    }

    /// <summary>The top-k concept indices of each sample by importance.</summary>
    public static long[][] TopConcepts(Tensor importance, int topK)
    {
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (topK < 1 || topK > phi.shape[1]) throw new Contracts.InvalidInputException("top_k", $"must be in [1, {phi.shape[1]}], got {topK}");
        var idx = phi.topk(topK, 1).indexes;
        return Enumerable.Range(0, (int)phi.shape[0]).Select(i => idx[i].data<long>().ToArray()).ToArray();
    }

    /// <summary>The top-k concepts of each sample's class by global importance GI [C, K].</summary>
    public static long[][] ClassTopConcepts(double[,] globalImportance, long[] labels, int topK)
    {
        int c = globalImportance.GetLength(0), k = globalImportance.GetLength(1);
        if (topK < 1 || topK > k) throw new Contracts.InvalidInputException("top_k", $"must be in [1, {k}], got {topK}");
        var perClass = Enumerable.Range(0, c).Select(row => Enumerable.Range(0, k).OrderByDescending(j => globalImportance[row, j]).ThenBy(j => j).Take(topK).Select(j => (long)j).ToArray()).ToArray();
        return labels.Select(l => l >= 0 && l < c ? perClass[l] : throw new Contracts.InvalidInputException("labels", $"class {l} is outside [0, {c})")).ToArray();
    }

    public static double Existence(Tensor importance, Tensor conceptLabels, int topK, long[][]? top = null)
    {
        using var scope = torch.NewDisposeScope();
        var g = CheckLabels(importance, conceptLabels);
        top ??= TopConcepts(importance, topK);
        if (top.Length != g.GetLength(0)) throw new Contracts.InvalidInputException("labels", $"{top.Length} top-concept lists for {g.GetLength(0)} samples");
        double total = 0;
        for (int n = 0; n < top.Length; n++) total += top[n].Count(k => g[n, k] > 0.5) / (double)top[n].Length;
        return total / top.Length;
    }

    public static double Location(Tensor importance, Tensor conceptLabels, Tensor maps, Tensor masks, int topK, long[][]? top = null,
        bool allRelied = false, bool chanceCorrected = false)
    {
        using var scope = torch.NewDisposeScope();
        var g = CheckLabels(importance, conceptLabels);
        var share = PairScores(maps, masks, g, chanceCorrected);
        top ??= TopConcepts(importance, topK);
        double total = 0; int pairs = 0;
        foreach (var (i, c, score) in LocatedPairs(g, share, top, allRelied)) { total += score; pairs++; }
        return pairs > 0 ? total / pairs : 0.0;
    }

    /// <summary>
    /// Existence and location per concept k: the samples whose top-k concepts include k
    /// (<c>Relied</c>), the share of them where k is present (<c>Existence</c>), and, when maps and
    /// masks are given, the pairs location averages over for k (<c>Located</c>) with their mean
    /// score (<c>Location</c>), under the same options as <see cref="Location"/>. A concept never
    /// relied on scores 0 with a count of 0.
    /// </summary>
    public static ConceptBreakdown PerConcept(Tensor importance, Tensor conceptLabels, int topK, long[][]? top = null,
        Tensor? maps = null, Tensor? masks = null, bool allRelied = false, bool chanceCorrected = false)
    {
        using var scope = torch.NewDisposeScope();
        var g = CheckLabels(importance, conceptLabels);
        int k = g.GetLength(1);
        top ??= TopConcepts(importance, topK);
        var relied = new long[k];
        var present = new long[k];
        for (int i = 0; i < top.Length; i++)
            foreach (var c in top[i]) { relied[c]++; if (g[i, c] > 0.5) present[c]++; }
        var existence = Enumerable.Range(0, k).Select(c => relied[c] > 0 ? present[c] / (double)relied[c] : 0.0).ToArray();
        if (maps is null || masks is null) return new ConceptBreakdown(relied, existence, [], []);
        var located = new long[k];
        var sum = new double[k];
        foreach (var (_, c, score) in LocatedPairs(g, PairScores(maps, masks, g, chanceCorrected), top, allRelied)) { located[c]++; sum[c] += score; }
        return new ConceptBreakdown(relied, existence, located, Enumerable.Range(0, k).Select(c => located[c] > 0 ? sum[c] / located[c] : 0.0).ToArray());
    }

    /// <summary>
    /// Discovered concepts against ground-truth values: each concept (a column of the coefficients
    /// [N, K]) is matched to the value (a column of <paramref name="valueLabels"/> [N, V], 1 =
    /// present) its coefficient detects best by ROC AUC (<see cref="GroundTruthMatch"/>).
    /// </summary>
    public static (long[] Value, double[] Auc) MatchGroundTruth(Tensor coefficients, Tensor valueLabels)
    {
        using var scope = torch.NewDisposeScope();
        var u = ExplainTensors.Matrix(coefficients, "coefficients");
        if (valueLabels.dim() != 2 || valueLabels.shape[0] != u.shape[0] || valueLabels.shape[1] < 1)
            throw new Contracts.InvalidInputException("concept_labels", $"expected ground-truth values [{u.shape[0]}, V] (one row per sample), got [{string.Join(", ", valueLabels.shape)}]");
        var columns = u.t().to_type(ScalarType.Float32).contiguous();
        var truthT = (valueLabels.t().to_type(ScalarType.Float64) > 0.5).contiguous();
        var truth = Enumerable.Range(0, (int)truthT.shape[0]).Select(v => truthT[v].data<bool>().ToArray()).ToArray();
        int k = (int)u.shape[1];
        var value = new long[k];
        var auc = new double[k];
        for (int c = 0; c < k; c++)
        {
            var (v, a) = GroundTruthMatch.Best(columns[c].data<float>().ToArray(), truth);
            (value[c], auc[c]) = (v, a);
        }
        return (value, auc);
    }

    /// <summary>Per (sample, concept) the location score: the map's mass share inside the mask, chance-corrected if asked.</summary>
    static double[,] PairScores(Tensor maps, Tensor masks, double[,] present, bool chanceCorrected)
    {
        long n = present.GetLength(0), k = present.GetLength(1);
        if (maps.dim() != 4 || maps.shape[0] != n || maps.shape[1] != k)
            throw new Contracts.InvalidInputException("maps", $"expected [{n}, {k}, H, W], got [{string.Join(", ", maps.shape)}]");
        if (!masks.shape.SequenceEqual(maps.shape))
            throw new Contracts.InvalidInputException("concept_masks", $"shape [{string.Join(", ", masks.shape)}] differs from the maps' [{string.Join(", ", maps.shape)}]");
        var m = maps.to_type(ScalarType.Float64).clamp_min(0);
        var gt = masks.to_type(ScalarType.Float64);
        var inside = (m * gt).sum([2, 3]);
        var mass = m.sum([2, 3]);
        var score = torch.where(mass > 0, inside / mass.clamp_min(1e-300), torch.zeros_like(mass));
        if (chanceCorrected)
        {
            var area = gt.mean([2, 3]);
            score = torch.where(area < 1, (score - area) / (1 - area).clamp_min(1e-300), torch.zeros_like(score));
        }
        return ExplainTensors.ToArray2D(score);
    }

    /// <summary>The (sample, top-k concept) pairs location averages over, with their scores (an absent concept scores 0).</summary>
    static IEnumerable<(int Sample, long Concept, double Score)> LocatedPairs(double[,] present, double[,] share, long[][] top, bool allRelied)
    {
        for (int i = 0; i < top.Length; i++)
            foreach (var c in top[i])
                if (allRelied || present[i, c] > 0.5) yield return (i, c, present[i, c] > 0.5 ? share[i, c] : 0.0);
    }

    static double[,] CheckLabels(Tensor importance, Tensor conceptLabels)
    {
        var phi = ExplainTensors.Matrix(importance, "importance");
        if (conceptLabels.dim() != 2 || !conceptLabels.shape.SequenceEqual(phi.shape))
            throw new Contracts.InvalidInputException("concept_labels", $"expected [{phi.shape[0]}, {phi.shape[1]}] like the importances, got [{string.Join(", ", conceptLabels.shape)}]");
        return ExplainTensors.ToArray2D(conceptLabels.to_type(ScalarType.Float64));
    }
}

/// <summary>Existence and location of each concept [K] (see <see cref="ConceptTrust.PerConcept"/>); Located and Location are empty without masks.</summary>
public sealed record ConceptBreakdown(long[] Relied, double[] Existence, long[] Located, double[] Location);

/// <summary>Options of the global importance (config field classes).</summary>
public sealed record GlobalImportanceOptions(int Classes) : MetricOptions
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
        [OptionSpec.Int("classes", 0, "classes of the table (0: max label + 1)", 0, 1 << 20)];

    public static MetricOptions From(OptionValues o) => new GlobalImportanceOptions(o.Int("classes"));
}

/// <summary>Options of existence (config fields top_k and class_level); location shares them.</summary>
public sealed record TopConceptOptions(int TopK, bool ClassLevel) : MetricOptions
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("top_k", 0, "concepts per sample checked (the top-k by importance; 0: min(3, K))", 0, 1 << 20),
        OptionSpec.Bool("class_level", false, "check each sample's class-level top-k concepts instead of its own"),
    ];

    public static MetricOptions From(OptionValues o) => new TopConceptOptions(o.Int("top_k"), o.Bool("class_level"));
}

/// <summary>Options of location (config fields location_all_relied and location_chance_corrected).</summary>
public sealed record LocationOptions(bool AllRelied, bool ChanceCorrected) : MetricOptions
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Bool("location_all_relied", false, "average over every (sample, top-k concept) pair, an absent concept scoring 0"),
        OptionSpec.Bool("location_chance_corrected", false, "score each pair (s − a)/(1 − a), a the mask's share of the image"),
    ];

    public static MetricOptions From(OptionValues o) => new LocationOptions(o.Bool("location_all_relied"), o.Bool("location_chance_corrected"));
}
