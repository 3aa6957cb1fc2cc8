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
    /// texture, background, position) as concept images; "X background" concepts become the word X.
    /// </summary>
    public static ConceptImages FromConceptShapes(int n, int seed, int imageSize)
    {
        var ds = Core.Data.ConceptShapes.Generate(n, seed, new Core.Data.ConceptShapesOptions { Size = imageSize });
        ds.ConceptMasks?.Dispose();
        ds.Labels.Dispose();
        var names = ds.ConceptNames!.Select(c => c.EndsWith(" background", StringComparison.Ordinal) ? c[..^" background".Length] : c).ToList();
        return new ConceptImages(ds.Images, ds.ConceptLabels!, names);
    }
}
