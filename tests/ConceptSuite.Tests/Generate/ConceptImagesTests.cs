using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Text;

namespace ConceptSuite.Tests.Generate;

public class ConceptImagesTests
{
    [Fact]
    public void ConceptShapeImagesKeepTheConceptsOfTheFactorsThatVary()
    {
        using var full = ConceptImages.FromConceptShapes(64, 3, new ConceptShapesOptions { Size = 16 });
        Assert.Equal(["square", "circle", "triangle", "red", "green", "blue", "yellow", "small", "large", "solid", "striped", "plain", "dotted", "checkered", "left", "right"], full.ConceptNames);
        // One value per factor: exactly six active labels per image.
        Assert.True(full.ConceptLabels.sum(1).eq(6).all().item<bool>());
        using var a = ConceptImages.FromConceptShapes(64, 3, ConceptImages.ColourOnly(8));
        using var b = ConceptImages.FromConceptShapes(64, 3, ConceptImages.ColourOnly(8));
        Assert.Equal(["red", "green", "blue", "yellow"], a.ConceptNames);
        Assert.Equal(new long[] { 64, 3, 8, 8 }, a.Images.shape);
        Assert.True(a.Images.equal(b.Images).all().item<bool>());
        Assert.True(a.ConceptLabels.sum(1).eq(1).all().item<bool>());
        Assert.Equal("a red shape", ConceptVocabulary.BuildPrompt(a.ConceptsOf(a.ConceptLabels[.., 0].argmax().item<long>())));
    }

    [Fact]
    public void FashionMnistImagesCarryOneClassWordAndBuildClassPrompts()
    {
        using var d = ConceptImages.FromFashionMnist("test", 20, 16);
        Assert.Equal(["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"], d.ConceptNames);
        Assert.Equal(new long[] { 20, 3, 16, 16 }, d.Images.shape);
        Assert.True(d.ConceptLabels.sum(1).eq(1).all().item<bool>());
        // The first test image of Fashion-MNIST is an ankle boot (label 9).
        Assert.Equal(["ankle-boot"], d.ConceptsOf(0));
        Assert.Equal("a photo of a sneaker", ConceptVocabulary.BuildPrompt(["sneaker"]));
        Assert.Equal("a photo of an ankle-boot", ConceptVocabulary.BuildPrompt(["ankle-boot"]));
        var vocab = new ConceptVocabulary(d.ConceptNames);
        Assert.Equal([0L, 2 + 7, 1, 1, 1, 1, 1, 1], vocab.Tokenize("a photo of a sneaker"));
    }

    [Fact]
    public void SubsetsListingEveryValueReproduceTheUnrestrictedSet()
    {
        using var plain = ConceptShapes.Generate(40, 9, new ConceptShapesOptions { Size = 16 });
        var all = ConceptShapes.Factors.ToDictionary(f => f, f => ConceptShapes.ValuesOf(f));
        using var listed = ConceptShapes.Generate(40, 9, new ConceptShapesOptions { Size = 16, Subsets = all });
        Assert.True(plain.Images.equal(listed.Images).all().item<bool>());
        Assert.True(plain.ConceptLabels!.equal(listed.ConceptLabels!).all().item<bool>());
    }

    [Fact]
    public void BadSubsetsAreRejectedNamingTheFactor()
    {
        ConceptShapesOptions With(string factor, params string[] values) =>
            new() { Size = 16, Subsets = new Dictionary<string, IReadOnlyList<string>> { [factor] = values } };
        Assert.Equal("subsets.colour", Assert.Throws<InvalidInputException>(() => ConceptShapes.Generate(4, 1, With("colour", "mauve"))).Field);
        Assert.Equal("subsets.shape", Assert.Throws<InvalidInputException>(() => ConceptShapes.Generate(4, 1, With("shape", "square", "square"))).Field);
        Assert.Equal("subsets", Assert.Throws<InvalidInputException>(() => ConceptShapes.Generate(4, 1, With("weight", "heavy"))).Field);
        var spurious = With("background", "plain") with { SpuriousBackground = 0.5 };
        Assert.Equal("subsets.background", Assert.Throws<InvalidInputException>(() => ConceptShapes.Generate(4, 1, spurious)).Field);
        // Every factor fixed leaves no concept to prompt for.
        var fixedAll = new ConceptShapesOptions { Size = 16, Subsets = ConceptShapes.Factors.ToDictionary(f => f, f => (IReadOnlyList<string>)[ConceptShapes.ValuesOf(f)[0]]) };
        Assert.Equal("subsets", Assert.Throws<InvalidInputException>(() => ConceptImages.FromConceptShapes(4, 1, fixedAll)).Field);
    }
}
