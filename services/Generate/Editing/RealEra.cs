using ConceptSuite.Core.Methods;
using ConceptSuite.Generate.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// RealEra (Liu et al., 2024): UCE plus (1) neighbour-concept mining — the erased concept's
/// embedding perturbed within a ball, c_i + r·u·‖c_i‖ with u a random unit vector and
/// r ~ U(0, ρ), each sample also mapped to the erased concept's target, so the concept's residue
/// (nearby embeddings that still evoke it) is erased; vocabulary concepts whose cosine to c_i is
/// at least the association threshold are mined as associated and erased too; (2) beyond-concept
/// regularisation — samples at radius r ~ U(2ρ, 3ρ), outside the neighbourhood, join the
/// preserve set so the edit stays local.
/// Two adaptations to a linear closed form: (a) each neighbour sample weighs w_n/n and each
/// beyond sample w_b/n (rows scaled by √weight), so n noisy copies do not outvote the concept's own
/// key c_i → v*_i; (b) beyond samples keep only their component orthogonal to the erased keys:
/// for a linear W, preserving c_i + R·u would also preserve R⁻¹-scaled c_i and cancel the erase,
/// while preserving its orthogonal part keeps the map of everything beyond the concept itself.
/// </summary>
public sealed class RealEra(RealEraOptions options) : IConceptEraser
{
    public RealEraOptions Options { get; } = options;
    public ClosedFormOptions ClosedForm => Options.ClosedForm;

    public EditPlan Plan(ConceptGenerator g, EraseSpec spec)
    {
        using var scope = NewDisposeScope();
        var emb = g.Model.TokenEmbeddings.detach().cpu().to_type(ScalarType.Float64);
        var mined = new List<string>();
        foreach (var c in spec.Concepts)
        {
            var ci = emb[g.Vocabulary.TokenOf(c)];
            foreach (var other in g.Vocabulary.Concepts)
            {
                if (spec.Concepts.Contains(other) || spec.Preserve.Contains(other) || spec.Targets.Contains(other) || mined.Contains(other)) continue;
                var co = emb[g.Vocabulary.TokenOf(other)];
                double cos = (ci.dot(co) / (ci.norm() * co.norm() + 1e-12)).item<double>();
                if (cos >= Options.AssociationThreshold) mined.Add(other);
            }
        }
        var plan = UnifiedConceptEditing.BasePlan(g, spec, mined);
        using var gen = new Generator((ulong)spec.Seed + 7919);
        // Orthonormal basis of the erased keys' span (rows), for the beyond samples' projection.
        var basis = linalg.qr(plan.EraseKeys.t()).Q.t();
        var o = Options;
        double nw = o.NeighbourSamples == 0 ? 0 : Math.Sqrt(o.NeighbourWeight / o.NeighbourSamples);
        double bw = o.BeyondSamples == 0 ? 0 : Math.Sqrt(o.BeyondWeight / o.BeyondSamples);
        var near = new List<Tensor>(); var nearTargets = new List<Tensor>(); var beyond = new List<Tensor>();
        for (int i = 0; i < spec.Concepts.Count; i++)
        {
            var ci = plan.EraseKeys[i];
            var ti = plan.TargetKeys[i];
            double norm = ci.norm().item<double>();
            near.Add(nw * Perturb(ci, norm, o.NeighbourSamples, 0, o.NeighbourRadius, gen));
            nearTargets.Add(nw * ti.unsqueeze(0).expand(o.NeighbourSamples, -1));
            var b = Perturb(ci, norm, o.BeyondSamples, 2 * o.NeighbourRadius, 3 * o.NeighbourRadius, gen);
            beyond.Add(bw * (b - b.matmul(basis.t()).matmul(basis)));
        }
        var ek = cat([plan.EraseKeys, .. near], 0);
        var tk = cat([plan.TargetKeys, .. nearTargets], 0);
        var pk = cat([plan.PreserveKeys, .. beyond], 0);
        return plan with
        {
            EraseKeys = ek.MoveToOuterDisposeScope(), TargetKeys = tk.MoveToOuterDisposeScope(), PreserveKeys = pk.MoveToOuterDisposeScope(),
            NeighbourKeys = o.NeighbourSamples * spec.Concepts.Count, BeyondKeys = o.BeyondSamples * spec.Concepts.Count,
        };
    }

    /// <summary>n points c + r·u·‖c‖, u uniform on the sphere, r ~ U(lo, hi).</summary>
    static Tensor Perturb(Tensor c, double norm, int n, double lo, double hi, Generator gen)
    {
        var u = randn([n, c.shape[0]], dtype: ScalarType.Float64, generator: gen);
        u = u / u.norm(1, keepdim: true);
        var r = rand([n, 1], dtype: ScalarType.Float64, generator: gen) * (hi - lo) + lo;
        return c.unsqueeze(0) + r * u * norm;
    }
}

/// <summary>
/// Options of <see cref="RealEra"/>: the closed form's weights, and per erased concept the
/// neighbour and beyond samples (each group's total weight relative to the concept's own key) and
/// the association threshold of the mining.
/// </summary>
public sealed record RealEraOptions(ClosedFormOptions ClosedForm, int NeighbourSamples, double NeighbourRadius, int BeyondSamples,
    double AssociationThreshold, double NeighbourWeight, double BeyondWeight)
{
    public static readonly IReadOnlyList<OptionSpec> Schema =
    [
        .. ClosedFormOptions.Schema,
        OptionSpec.Int("neighbour_samples", 16, "neighbour samples per erased concept (0 for plain UCE)", 0, 1024),
        OptionSpec.Float("neighbour_radius", 0.3, "neighbour radius relative to the concept embedding's norm", 0, 10),
        OptionSpec.Int("beyond_samples", 16, "beyond-concept samples per erased concept, kept unchanged", 0, 1024),
        OptionSpec.Float("association_threshold", 0.9, "cosine at or above which a vocabulary concept is mined as associated", -1, 1),
        OptionSpec.Float("neighbour_weight", 1.0, "weight of all neighbour samples of one concept together", 0, 1e6),
        OptionSpec.Float("beyond_weight", 1.0, "weight of all beyond-concept samples of one concept together", 0, 1e6),
    ];

    public static RealEraOptions From(OptionValues o) => new(ClosedFormOptions.From(o), o.Int("neighbour_samples"), o.Float("neighbour_radius"),
        o.Int("beyond_samples"), o.Float("association_threshold"), o.Float("neighbour_weight"), o.Float("beyond_weight"));
}
