using ConceptSuite.Core.Data;

namespace ConceptSuite.Tests.Discovery;

/// <summary>Needs the Debian package wordnet-base (scripts/prereqs.sh installs it); fails loudly without it.</summary>
public class WordNetVocabularyTests
{
    [Fact]
    public void ReadsNounsAdjectivesAndAttributeLinks()
    {
        Assert.True(File.Exists(Path.Combine(WordNetVocabulary.DefaultDirectory, "index.noun")),
            "WordNet is missing: install the Debian package wordnet-base (scripts/prereqs.sh)");
        var v = WordNetVocabulary.Read();
        // WordNet 3.0: 117,798 noun and 21,479 adjective lemmas in index.noun / index.adj.
        Assert.Equal(117798, v.Words.Count(w => w.Pos == 'n'));
        Assert.Equal(21479, v.Words.Count(w => w.Pos == 'a'));
        Assert.Contains(v.Words, w => w.Word == "sleeve" && w.Pos == 'n');
        Assert.Contains("size", v.Attributes["large"]);
        Assert.Contains("size", v.Attributes["small"]);
        // Sorted by tagged-sense frequency: the top 100 are all common words.
        var top = WordNetVocabulary.Read(maxWords: 100);
        Assert.Equal(100, top.Words.Count);
        Assert.True(top.Words.Zip(top.Words.Skip(1)).All(p => p.First.TagCount >= p.Second.TagCount));
    }
}
