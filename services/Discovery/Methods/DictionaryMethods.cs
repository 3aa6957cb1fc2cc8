using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;

namespace ConceptSuite.Discovery.Methods;

/// <summary>
/// Every dictionary method by name (the "dictionary" family, selected by
/// <c>config.dictionaries[].method</c>). A new method is one file plus one line here. Traits:
/// <c>nonnegative_codes</c> (Encode never returns negative values) and <c>streaming</c> (the fit
/// reads the rows block by block, never all at once).
/// </summary>
public static class DictionaryMethods
{
    /// <summary>The request quantity every dictionary is built with: C, the number of atoms.</summary>
    public const string NConcepts = "n_concepts";

    public static readonly MethodFamily<IConceptDictionary> Family = new("dictionary", DiscoveryStage.Name,
        "Concept dictionaries A ≈ U·W: fitted on activations, then Encode (A → U) and Decode (U → A)", "config.dictionaries[].method",
    [
        new("pca", "Pearson 1901; Halko, Martinsson & Tropp 2011", "Principal component analysis, exact (covariance eigendecomposition = SVD) or randomized (Halko et al. 2011)", PcaOptions.Schema, o => new Pca(Concepts(o), PcaOptions.From(o)), Traits(nonnegative: false)),
        new("kmeans", "Arthur & Vassilvitskii 2007; Sculley 2010", "K-means with k-means++ initialisation (Arthur & Vassilvitskii 2007); Lloyd or mini-batch (Sculley 2010); one-hot codes", KMeansOptions.Schema, o => new KMeans(Concepts(o), KMeansOptions.From(o)), Traits(nonnegative: true)),
        new("nmf", "Lee & Seung 2001; Cichocki & Phan 2009; Fel et al. 2023 (CRAFT)", "Non-negative matrix factorisation (CRAFT): multiplicative updates (Lee & Seung 2001) or HALS (Cichocki & Phan 2009); NNLS encode; semi-NMF (Ding et al. 2010)", NmfOptions.Schema, o => new Nmf(Concepts(o), NmfOptions.From(o)), Traits(nonnegative: true)),
        new("fastica", "Hyvärinen 1999", "FastICA, parallel log-cosh (Hyvärinen 1999) on PCA-whitened data", FastIcaOptions.Schema, o => new FastIca(Concepts(o), FastIcaOptions.From(o)), Traits(nonnegative: false)),
        new("sparse_dl", "Mairal et al. 2009", "Sparse dictionary learning with ISTA/FISTA codes and unit-norm atoms (Mairal et al. 2009)", SparseDictionaryLearningOptions.Schema, o => new SparseDictionaryLearning(Concepts(o), SparseDictionaryLearningOptions.From(o)), Traits(nonnegative: false)),
        new("relu_sae", "Bricken et al. 2023, Towards Monosemanticity", "ReLU sparse autoencoder with L1 penalty (Bricken et al. 2023)", ReluSaeOptions.Schema, o => new ReluSae(Concepts(o), ReluSaeOptions.From(o)), Traits(nonnegative: true)),
        new("topk_sae", "Gao et al. 2024, Scaling and evaluating sparse autoencoders", "TopK sparse autoencoder with AuxK (Gao et al. 2024)", TopKSaeOptions.Schema, o => new TopKSae(Concepts(o), TopKSaeOptions.From(o)), Traits(nonnegative: true)),
        new("batchtopk_sae", "Bussmann et al. 2024, BatchTopK Sparse Autoencoders", "BatchTopK sparse autoencoder with a running inference threshold (Bussmann et al. 2024)", BatchTopKSaeOptions.Schema, o => new BatchTopKSae(Concepts(o), BatchTopKSaeOptions.From(o)), Traits(nonnegative: true)),
        new("jumprelu_sae", "Rajamanoharan et al. 2024, Jumping Ahead", "JumpReLU sparse autoencoder with straight-through threshold gradients (Rajamanoharan et al. 2024)", JumpReluSaeOptions.Schema, o => new JumpReluSae(Concepts(o), JumpReluSaeOptions.From(o)), Traits(nonnegative: true)),
        new("cocca", "SCoCCA: Multi-modal Sparse Concept Decomposition via Canonical Correlation Analysis (Concept CCA)", "Concept CCA: ridge CCA aligns the activations with paired activations of a second modality (config.paired_activations), then a dense dictionary of concept vectors in the shared canonical space (least-squares codes)", ConceptCcaOptions.CoccaSchema, o => new ConceptCca(Concepts(o), ConceptCcaOptions.Cocca(o)), Traits(nonnegative: false, streaming: false, paired: true)),
        new("scocca", "SCoCCA: Multi-modal Sparse Concept Decomposition via Canonical Correlation Analysis", "Sparse Concept CCA: ridge CCA with paired activations of a second modality (config.paired_activations), then sparse (L1, FISTA) concept codes over a dictionary in the shared canonical space", ConceptCcaOptions.ScoccaSchema, o => new ConceptCca(Concepts(o), ConceptCcaOptions.Scocca(o)), Traits(nonnegative: false, streaming: false, paired: true)),
        new("archetypal_sae", "Fel et al. 2025, Archetypal SAE", "Relaxed archetypal SAE: atoms are convex combinations of data points plus a bounded relaxation (Fel et al. 2025)", ArchetypalSaeOptions.Schema, o => new ArchetypalSae(Concepts(o), ArchetypalSaeOptions.From(o)), Traits(nonnegative: true)),
    ]);

    /// <summary>Parses the options of <paramref name="method"/> with C = <paramref name="concepts"/> atoms (once);
    /// INVALID_ARGUMENT naming <c>{field}.…</c> for an unknown method, a bad option or C &lt; 1.</summary>
    public static (MethodEntry<IConceptDictionary> Entry, OptionValues Options) Parse(string method, int concepts,
        IReadOnlyDictionary<string, string>? options, string field = "dictionary")
    {
        var entry = Family.Get(method, field + ".method");
        if (concepts < 1) throw new InvalidInputException(field + ".n_concepts", $"must be >= 1, got {concepts}");
        return (entry, OptionValues.Parse(entry.Options, options, field, new Dictionary<string, long> { [NConcepts] = concepts }));
    }

    /// <summary>Parses the options and builds the (unfitted) dictionary.</summary>
    public static IConceptDictionary Create(string method, int concepts, IReadOnlyDictionary<string, string>? options, string field = "dictionary")
    {
        var (entry, values) = Parse(method, concepts, options, field);
        return entry.Create(values);
    }

    static int Concepts(OptionValues o) => checked((int)o.Context[NConcepts]);

    /// <summary>True when the method fits on two paired modalities (it needs <c>config.paired_activations</c>).</summary>
    public static bool IsPaired(MethodEntry<IConceptDictionary> entry) => entry.Trait(Paired) == "true";

    const string Paired = "paired";

    static Dictionary<string, string> Traits(bool nonnegative, bool streaming = true, bool paired = false) => new()
    {
        ["nonnegative_codes"] = nonnegative ? "true" : "false",
        ["streaming"] = streaming ? "true" : "false",
        [Paired] = paired ? "true" : "false",
    };
}
