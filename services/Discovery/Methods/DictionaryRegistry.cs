using ConceptSuite.Contracts;
using ConceptSuite.Discovery.Abstractions;

namespace ConceptSuite.Discovery.Methods;

/// <summary>A registered method: its name, one-line description, options schema and factory.</summary>
public sealed record MethodEntry(string Name, string Description, IReadOnlyList<OptionSpec> Options,
    Func<MethodOptions, IConceptDictionary> Create, bool Streaming, bool NonNegativeCodes);

/// <summary>Every dictionary method by name. A new method is one file plus one line here.</summary>
public static class DictionaryRegistry
{
    public static readonly IReadOnlyList<MethodEntry> All =
    [
        new("pca", "Principal component analysis, exact (covariance eigendecomposition = SVD) or randomized (Halko et al. 2011)", Pca.Schema, o => new Pca(o), true, false),
        new("kmeans", "K-means with k-means++ initialisation (Arthur & Vassilvitskii 2007); Lloyd or mini-batch (Sculley 2010); one-hot codes", KMeans.Schema, o => new KMeans(o), true, true),
        new("nmf", "Non-negative matrix factorisation (CRAFT): multiplicative updates (Lee & Seung 2001) or HALS (Cichocki & Phan 2009); NNLS encode; semi-NMF (Ding et al. 2010)", Nmf.Schema, o => new Nmf(o), true, true),
        new("fastica", "FastICA, parallel log-cosh (Hyvärinen 1999) on PCA-whitened data", FastIca.Schema, o => new FastIca(o), true, false),
        new("sparse_dl", "Sparse dictionary learning with ISTA/FISTA codes and unit-norm atoms (Mairal et al. 2009)", SparseDictionaryLearning.Schema, o => new SparseDictionaryLearning(o), true, false),
        new("relu_sae", "ReLU sparse autoencoder with L1 penalty (Bricken et al. 2023)", ReluSae.Schema, o => new ReluSae(o), true, true),
        new("topk_sae", "TopK sparse autoencoder with AuxK (Gao et al. 2024)", TopKSae.Schema, o => new TopKSae(o), true, true),
        new("batchtopk_sae", "BatchTopK sparse autoencoder with a running inference threshold (Bussmann et al. 2024)", BatchTopKSae.Schema, o => new BatchTopKSae(o), true, true),
        new("jumprelu_sae", "JumpReLU sparse autoencoder with straight-through threshold gradients (Rajamanoharan et al. 2024)", JumpReluSae.Schema, o => new JumpReluSae(o), true, true),
        new("archetypal_sae", "Relaxed archetypal SAE: atoms are convex combinations of data points plus a bounded relaxation (Fel et al. 2025)", ArchetypalSae.Schema, o => new ArchetypalSae(o), true, true),
    ];

    /// <summary>The entry for <paramref name="name"/>; InvalidInputException naming <paramref name="field"/> when unknown.</summary>
    public static MethodEntry Get(string name, string field = "method") =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new InvalidInputException(field, $"unknown method '{name}'; known: {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>Validates options and builds the method.</summary>
    public static IConceptDictionary Create(string method, int concepts, IReadOnlyDictionary<string, string>? options, long seed, string field = "dictionary")
    {
        var entry = Get(method, field + ".method");
        return entry.Create(MethodOptions.Parse(entry.Options, options, concepts, seed, field));
    }
}
