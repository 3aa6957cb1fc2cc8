using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Data;

/// <summary>
/// The checked-in class-level attribute table of Fashion-MNIST (Data/fashion_mnist_attributes.json,
/// 19 attributes, each true or false per class, with the reason for each choice). Per-image
/// concept labels are the row of the image's class: an approximation (see the file's description).
/// </summary>
public sealed class FashionMnistAttributes
{
    sealed record Attribute([property: JsonPropertyName("name")] string Name, [property: JsonPropertyName("why")] string Why,
        [property: JsonPropertyName("classes")] List<string> Classes);
    sealed record Table([property: JsonPropertyName("description")] string Description,
        [property: JsonPropertyName("classes")] List<string> Classes, [property: JsonPropertyName("attributes")] List<Attribute> Attributes);

    public IReadOnlyList<string> ClassNames { get; }
    public IReadOnlyList<string> AttributeNames { get; }
    /// <summary>[C, K] 0/1 matrix: class × attribute.</summary>
    public float[,] Matrix { get; }

    FashionMnistAttributes(IReadOnlyList<string> classes, IReadOnlyList<string> names, float[,] matrix)
    {
        ClassNames = classes; AttributeNames = names; Matrix = matrix;
    }

    /// <summary>Reads the table embedded in this assembly.</summary>
    public static FashionMnistAttributes Load()
    {
        using var s = typeof(FashionMnistAttributes).Assembly.GetManifestResourceStream("ConceptSuite.Bottleneck.Data.fashion_mnist_attributes.json")
            ?? throw new InvalidDataException("fashion_mnist_attributes.json is not embedded");
        var t = JsonSerializer.Deserialize<Table>(s) ?? throw new InvalidDataException("attribute table is empty");
        var m = new float[t.Classes.Count, t.Attributes.Count];
        for (int k = 0; k < t.Attributes.Count; k++)
            foreach (var c in t.Attributes[k].Classes)
            {
                int i = t.Classes.IndexOf(c);
                if (i < 0) throw new InvalidDataException($"attribute '{t.Attributes[k].Name}' names unknown class '{c}'");
                m[i, k] = 1;
            }
        return new FashionMnistAttributes(t.Classes, t.Attributes.Select(a => a.Name).ToList(), m);
    }

    /// <summary>Per-row concept labels [N, K] for class labels [N] (the class's row of the table).</summary>
    public Tensor LabelsFor(Tensor classLabels)
    {
        using var scope = NewDisposeScope();
        var table = tensor(Matrix.Cast<float>().ToArray(), [ClassNames.Count, AttributeNames.Count]).to(classLabels.device);
        return table.index_select(0, classLabels.to(ScalarType.Int64)).MoveToOuterDisposeScope();
    }
}
