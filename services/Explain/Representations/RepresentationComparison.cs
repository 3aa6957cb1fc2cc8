using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Explain.Representations;

/// <summary>
/// The CompareRepresentations answer for two representations of the same samples: the requested
/// similarity indices (family "similarity", options parsed once per index), and, as the config
/// asks, the unit matching, the sparse prediction and the spectral groups.
/// </summary>
public static class RepresentationComparison
{
    /// <summary>The indices the config names, checked (names, options) before anything is computed.</summary>
    public static IReadOnlyList<(string Name, IRepresentationSimilarity Index)> Indices(CompareRepresentationsConfig cfg)
    {
        foreach (var key in cfg.SimilarityOptions.Keys)
            if (!cfg.Similarities.Contains(key))
                throw new InvalidInputException($"config.similarity_options[{(key.Length <= 64 ? key : key[..64])}]", "names an index that is not in similarities");
        var context = RequestSeed.Context(cfg.Seed);
        return cfg.Similarities.Select(name => (name, RepresentationSimilarities.Family.Create(name,
            cfg.SimilarityOptions.TryGetValue(name, out var o) ? o.Options : null, $"config.similarity_options[{name}]", context, "config.similarities"))).ToList();
    }

    public static CompareRepresentationsResponse Compare(CompareRepresentationsConfig cfg, torch.Tensor a, torch.Tensor b, CancellationToken ct)
    {
        if (cfg.SparseAlpha < 0) throw new InvalidInputException("config.sparse_alpha", "must be ≥ 0");
        if (cfg.SpectralGroups < 0) throw new InvalidInputException("config.spectral_groups", "must be ≥ 0");
        var methods = Indices(cfg);
        // Validate both sides once against the strictest estimator before computing anything.
        ExplainTensors.Pair(a, b, methods.Select(m => m.Index.MinSamples).DefaultIfEmpty(2).Max());
        var response = new CompareRepresentationsResponse();
        foreach (var (name, index) in methods)
        {
            ct.ThrowIfCancellationRequested();
            response.Similarities[name] = index.Score(a, b);
        }
        if (cfg.MatchUnits)
        {
            var corr = UnitCorrelation.Compute(a, b);
            var match = UnitMatching.FromCorrelation(ExplainTensors.ToArray2D(corr));
            var r = new UnitMatchingResult { Correlation = TensorCodec.ToMessageCopy(corr), MeanMatchedCorrelation = match.MeanMatched };
            r.Partner.AddRange(match.Partner);
            r.PartnerCorrelation.AddRange(match.Correlation);
            r.SemiPartner.AddRange(match.SemiPartner);
            r.SemiCorrelation.AddRange(match.SemiCorrelation);
            response.Matching = r;
        }
        if (cfg.SparseAlpha > 0)
        {
            var sp = new SparsePrediction(cfg.SparseAlpha).Fit(a, b);
            var r = new SparsePredictionResult { Weights = TensorCodec.ToMessageCopy(ExplainTensors.FromArray2D(sp.Weights)) };
            r.R2.AddRange(sp.R2);
            r.Nonzero.AddRange(sp.NonZero);
            response.SparsePrediction = r;
        }
        if (cfg.SpectralGroups > 0)
        {
            var sc = new UnitSpectralClustering(cfg.SpectralGroups, (int)cfg.Seed).Fit(a, b);
            var r = new SpectralGroupsResult();
            r.LabelsA.AddRange(sc.LabelsA);
            r.LabelsB.AddRange(sc.LabelsB);
            response.SpectralGroups = r;
        }
        return response;
    }
}
