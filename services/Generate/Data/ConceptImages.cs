using TorchSharp;

namespace ConceptSuite.Generate.Data;

/// <summary>
/// Images with multi-hot concept labels, the form of a concept-shapes dataset artifact:
/// Images uint8 [N,3,H,W], ConceptLabels float32 [N,K], ConceptNames K words.
/// </summary>
public sealed record ConceptImages(torch.Tensor Images, torch.Tensor ConceptLabels, IReadOnlyList<string> ConceptNames) : IDisposable
{
    public long Count => Images.shape[0];
    public int ImageSize => (int)Images.shape[2];

    /// <summary>The active concept words of sample i.</summary>
    public IEnumerable<string> ConceptsOf(long i)
    {
        var row = ConceptLabels[i].data<float>().ToArray();
        for (int k = 0; k < row.Length; k++) if (row[k] > 0.5f) yield return ConceptNames[k];
    }

    /// <summary>Images as float32 in [-1, 1], the diffusion model's range.</summary>
    public torch.Tensor Normalized() => Images.to_type(torch.ScalarType.Float32).div(127.5).sub(1.0);

    public void Dispose() { Images.Dispose(); ConceptLabels.Dispose(); }

    /// <summary>
    /// The suite's concept-shapes set (ConceptSuite.Core.Data.ConceptShapes: shape, colour, size,
    /// texture, background, position) as concept images. Only the concepts of factors that vary
    /// (two or more values drawn, see <see cref="Core.Data.ConceptShapesOptions.Subsets"/>) become
    /// concept words, so colour-only scenes have exactly the colour words; "X background" becomes X.
    /// </summary>
    public static ConceptImages FromConceptShapes(int n, int seed, Core.Data.ConceptShapesOptions options)
    {
        var drawn = Core.Data.ConceptShapes.DrawnValues(options);
        int[] offsets = [Core.Data.ConceptShapes.ShapeOffset, Core.Data.ConceptShapes.ColourOffset, Core.Data.ConceptShapes.SizeOffset,
            Core.Data.ConceptShapes.TextureOffset, Core.Data.ConceptShapes.BackgroundOffset, Core.Data.ConceptShapes.PositionOffset];
        var columns = drawn.SelectMany((values, f) => values.Length > 1 ? values.Order().Select(v => (long)(offsets[f] + v)) : []).ToArray();
        if (columns.Length == 0) throw new Contracts.InvalidInputException("subsets", "at least one factor must vary");
        using var ds = Core.Data.ConceptShapes.Generate(n, seed, options);
        var names = columns.Select(c => Core.Data.ConceptShapes.ConceptNames[(int)c])
            .Select(c => c.EndsWith(" background", StringComparison.Ordinal) ? c[..^" background".Length] : c).ToList();
        using var index = torch.tensor(columns);
        return new ConceptImages(ds.Images.clone(), ds.ConceptLabels!.index_select(1, index), names);
    }

    /// <summary>
    /// Colour-only concept shapes: large solid squares on the left of a plain background, in the
    /// four colours, so the colour words are the only concepts (the test- and CPU-sized set).
    /// </summary>
    public static Core.Data.ConceptShapesOptions ColourOnly(int imageSize) => new()
    {
        Size = imageSize,
        Subsets = new Dictionary<string, IReadOnlyList<string>>
        {
            ["shape"] = ["square"], ["size"] = ["large"], ["texture"] = ["solid"], ["background"] = ["plain"], ["position"] = ["left"],
        },
    };

    /// <summary>The concept word of a Fashion-MNIST class: "t-shirt/top" → "t-shirt", "ankle boot" → "ankle-boot".</summary>
    public static string ClassWord(string className) => className.Split('/')[0].Replace(' ', '-');

    /// <summary>
    /// Fashion-MNIST (ConceptSuite.Core.Data.FashionMnist) as concept images for class prompts
    /// ("a photo of a sneaker"): the first <paramref name="n"/> images of the split, grey replicated
    /// to RGB and resized (area average, or bilinear when enlarging) from 28×28 to
    /// <paramref name="imageSize"/>; one concept word per class (<see cref="ClassWord"/>).
    /// </summary>
    public static ConceptImages FromFashionMnist(string split, int n, int imageSize)
    {
        using var ds = Core.Data.FashionMnist.Load(split, n);
        using var scope = torch.NewDisposeScope();
        var x = ds.Images.to_type(torch.ScalarType.Float32);
        x = imageSize < x.shape[2]
            ? torch.nn.functional.adaptive_avg_pool2d(x, [imageSize, imageSize])
            : torch.nn.functional.interpolate(x, [imageSize, imageSize], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        var images = x.round().clamp(0, 255).to_type(torch.ScalarType.Byte).expand(-1, 3, -1, -1).contiguous();
        var labels = torch.nn.functional.one_hot(ds.Labels, ds.ClassNames.Count).to_type(torch.ScalarType.Float32);
        return new ConceptImages(images.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), ds.ClassNames.Select(ClassWord).ToList());
    }
}
