using ConceptSuite.Core.Numerics;
using ConceptSuite.Core.Data;
using ConceptSuite.Discovery.Naming;

namespace ConceptSuite.Tests.Discovery;

public class NamingAccuracyTests
{
    [Fact]
    public void AucIsTheMannWhitneyProbabilityWithTiesCountingHalf()
    {
        // Perfect separation, reversed separation, and chance.
        Assert.Equal(1.0, GroundTruthMatch.Auc([0.1f, 0.2f, 0.8f, 0.9f], [false, false, true, true]), 12);
        Assert.Equal(0.0, GroundTruthMatch.Auc([0.9f, 0.8f, 0.2f, 0.1f], [false, false, true, true]), 12);
        // Positives {3, 1}, negatives {2, 0}: pairs (3>2, 3>0, 1<2, 1>0) → 3 of 4.
        Assert.Equal(0.75, GroundTruthMatch.Auc([3f, 2f, 1f, 0f], [true, false, true, false]), 12);
        // All scores tied: every pair counts half.
        Assert.Equal(0.5, GroundTruthMatch.Auc([1f, 1f, 1f, 1f, 1f], [true, false, true, false, false]), 12);
        // One class absent: no ranking to judge.
        Assert.Equal(0.5, GroundTruthMatch.Auc([1f, 2f], [true, true]), 12);
    }

    [Fact]
    public void ConceptsAreMatchedToTheValueTheyDetectBestAndScoredOnlyWhenWellMatched()
    {
        // Values: red (samples 0, 1), blue (samples 2, 3); a fifth sample has neither.
        bool[] red = [true, true, false, false, false], blue = [false, false, true, true, false];
        IReadOnlySet<string>[] accepted = [new HashSet<string> { "red", "reddish" }, new HashSet<string> { "blue" }];
        float[] detectsRed = [0.9f, 0.8f, 0.1f, 0f, 0.2f], detectsBlue = [0f, 0.1f, 0.7f, 0.9f, 0.3f], noise = [0.5f, 0.1f, 0.4f, 0.2f, 0.3f];
        var r = NamingAccuracy.Score([detectsRed, detectsBlue, noise], [red, blue], accepted, ["reddish", "red", "blue"]);
        Assert.Equal(0, r.Concepts[0].Value);
        Assert.Equal(1.0, r.Concepts[0].Auc, 12);
        Assert.True(r.Concepts[0].Correct);                 // a synonym counts
        Assert.Equal(1, r.Concepts[1].Value);
        Assert.False(r.Concepts[1].Correct);               // detects blue, named red
        Assert.True(r.Concepts[2].Auc < 0.9);               // the noise concept is not well matched: its name does not count
        Assert.Equal(2, r.WellMatched);
        Assert.Equal(1, r.NamedRight);
        Assert.Equal(0.5, r.Accuracy, 12);
        Assert.Equal(2 / 3.0, r.Matched, 12);
    }

    [Fact]
    public void CaptionWordsDropTheTemplateEveryCaptionShares()
    {
        var words = CaptionVocabulary.Words(["a small red square, plain background", "a large red circle, dotted background", "a photo of a t-shirt/top"]);
        Assert.Equal(["small", "red", "square", "plain", "background", "large", "circle", "dotted", "photo", "of", "t-shirt", "top"], words);
        Assert.DoesNotContain("a", words);                  // in every caption
        Assert.Empty(CaptionVocabulary.Words(["a red square", "a red square"]));
    }

    [Fact]
    public void WordNetSynonymsAndGlosses()
    {
        var s = WordNetSynsets.Read();
        // WordNet 3.0: "checkered" shares the synset {checked, checkered, chequered} ("patterned with alternating squares of color").
        Assert.Contains("chequered", s.Synonyms("checkered"));
        Assert.Contains("big", s.Synonyms("large"));
        Assert.Contains("checkered", s.Synonyms("Checkered"));
        Assert.Equal(["checkered"], s.Synonyms("checkered").Where(w => w == "checkered"));
        Assert.Equal("patterned with alternating squares of color", s.Senses("chequered")[0].Gloss);
        Assert.Equal("a set of data arranged in rows and columns", s.Gloss("table", 'n'));      // sense 1 of the noun in index.noun
        Assert.Equal("marked or decorated with stripes", s.Gloss("striped", 'a'));
        Assert.Null(s.Gloss("qwertyuiop"));
        Assert.Equal(["qwertyuiop"], s.Synonyms("qwertyuiop"));
    }
}
