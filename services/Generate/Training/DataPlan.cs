using ConceptSuite.Contracts;
using ConceptSuite.Generate.Data;

namespace ConceptSuite.Generate.Training;

/// <summary>The training set of a TrainGenerator request; the classifier's held-out set comes from the same source.</summary>
public sealed record DataPlan(string Source, int Samples, int Seed, int ImageSize, Core.Data.ConceptShapesOptions Shapes)
{
    /// <summary>Concept-shapes: seed (training) or seed + 1 (held out); Fashion-MNIST: the train or test split.</summary>
    public ConceptImages Load(bool heldOut)
    {
        int n = heldOut ? Math.Max(500, Samples / 4) : Samples;
        return Source == "fashion-mnist" ? ConceptImages.FromFashionMnist(heldOut ? "test" : "train", Math.Min(n, heldOut ? 10000 : 60000), ImageSize)
            : ConceptImages.FromConceptShapes(n, heldOut ? Seed + 1 : Seed, Shapes);
    }

    public static DataPlan From(ShapeDataSpec d, int imageSize)
    {
        var source = d.Source == "" ? "concept-shapes" : d.Source;
        if (source is not ("concept-shapes" or "fashion-mnist")) throw new InvalidInputException("data.source", "must be 'concept-shapes' or 'fashion-mnist'");
        var subsets = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var (factor, values) in new[] { ("colour", d.Colours), ("shape", d.Shapes), ("size", d.Sizes), ("texture", d.Textures), ("background", d.Backgrounds), ("position", d.Positions) })
        {
            if (values.Count == 0) continue;
            if (source == "fashion-mnist") throw new InvalidInputException("data.source", "factor subsets apply to concept-shapes only");
            if (values.Distinct().Count() != values.Count) throw new InvalidInputException($"data.{factor}s", "has duplicates");
            var known = Core.Data.ConceptShapes.ValuesOf(factor);
            foreach (var v in values) if (!known.Contains(v)) throw new InvalidInputException($"data.{factor}s", $"unknown {factor} '{v}'; known: {string.Join(", ", known)}");
            subsets[factor] = values.ToArray();
        }
        var shapes = new Core.Data.ConceptShapesOptions { Size = imageSize, Subsets = subsets };
        if (source == "concept-shapes" && Core.Data.ConceptShapes.DrawnValues(shapes).All(v => v.Length < 2))
            throw new InvalidInputException("data", "at least one factor must vary");
        return new DataPlan(source, d.Samples == 0 ? 4000 : d.Samples, d.Seed, imageSize, shapes);
    }

    /// <summary>Number of concept words the data will have (checked against token_embeddings before loading).</summary>
    public int ConceptCount => Source == "fashion-mnist" ? Core.Data.FashionMnist.ClassNames.Count
        : Core.Data.ConceptShapes.DrawnValues(Shapes).Where(v => v.Length > 1).Sum(v => v.Length);
}
