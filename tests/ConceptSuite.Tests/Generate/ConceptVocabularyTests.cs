using ConceptSuite.Contracts;
using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Text;

namespace ConceptSuite.Tests.Generate;

public class ConceptVocabularyTests
{
    static readonly ConceptVocabulary Vocab = new(["red", "green", "square", "circle", "small", "large", "plain", "striped"], maxTokens: 5);

    [Fact]
    public void PromptTokensAreBosThenConceptWordsThenPadding()
    {
        // Token ids: BOS 0, PAD 1, then concepts in order from 2: red 2, green 3, square 4, ...
        Assert.Equal([0L, 6, 2, 4, 9], Vocab.Tokenize("a small red square on a striped background"));
        Assert.Equal([0L, 3, 1, 1, 1], Vocab.Tokenize("green"));
        Assert.Equal([0L, 1, 1, 1, 1], Vocab.Tokenize(""));
    }

    [Fact]
    public void UnknownConceptNamesTheField()
    {
        var ex = Assert.Throws<InvalidInputException>(() => Vocab.Tokenize("a purple square", "prompts[3]"));
        Assert.Equal("prompts[3]", ex.Field);
        Assert.Contains("purple", ex.Rule);
    }

    [Fact]
    public void PromptLongerThanTheContextIsRejected()
    {
        var ex = Assert.Throws<InvalidInputException>(() => Vocab.Tokenize("small red square striped plain", "prompts[0]"));
        Assert.Equal("prompts[0]", ex.Field);
    }

    [Fact]
    public void PromptsAreBuiltFromConceptLabelsInGroupOrder()
    {
        Assert.Equal("a small striped red square on the left on a dotted background", ConceptVocabulary.BuildPrompt(["dotted", "left", "striped", "square", "red", "small"]));
        Assert.Equal("a blue shape", ConceptVocabulary.BuildPrompt(["blue"]));
    }

    [Fact]
    public void ConceptShapeImagesKeepTheConceptsOfTheFactorsThatVary()
    {
        using var full = ConceptImages.FromConceptShapes(64, 3, new ConceptSuite.Core.Data.ConceptShapesOptions { Size = 16 });
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
}
