using ConceptSuite.Contracts;
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
}
