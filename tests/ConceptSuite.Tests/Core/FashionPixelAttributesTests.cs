using ConceptSuite.Core.Data;

namespace ConceptSuite.Tests.Core;

/// <summary>The pixel attributes of Fashion-MNIST images on drawn silhouettes with known answers, and on the real images.</summary>
public class FashionPixelAttributesTests
{
    const int Side = 28;

    /// <summary>A rectangle of rows [top, bottom) and columns [left, right) filled by <paramref name="value"/>(y, x); black elsewhere.</summary>
    static byte[] Rect(int top, int bottom, int left, int right, Func<int, int, byte> value)
    {
        var img = new byte[Side * Side];
        for (int y = top; y < bottom; y++)
            for (int x = left; x < right; x++) img[y * Side + x] = value(y, x);
        return img;
    }

    [Fact]
    public void ToneFollowsTheMeanIntensityOfTheSilhouette()
    {
        var dark = Rect(2, 26, 4, 24, (_, _) => 80);          // 80/255 = 0.31 < 0.45
        var light = Rect(2, 26, 4, 24, (_, _) => 230);        // 0.90 > 0.75
        var middle = Rect(2, 26, 4, 24, (_, _) => 150);       // 0.59: neither
        Assert.Equal(80 / 255.0, FashionPixelAttributes.Measure(dark).Brightness, 9);
        Assert.Contains("dark", FashionPixelAttributes.Describe(dark, 3));
        Assert.Contains("light", FashionPixelAttributes.Describe(light, 3));
        Assert.DoesNotContain("dark", FashionPixelAttributes.Describe(middle, 3));
        Assert.DoesNotContain("light", FashionPixelAttributes.Describe(middle, 3));
    }

    [Fact]
    public void StripesArePlainAlongOneAxisAndEnergeticAcrossIt()
    {
        // Horizontal stripes, two rows per band of 100 / 220: every vertical step inside a band is 0,
        // every other one across a band edge is 120, so E_y = 60/255 = 0.235 and E_x = 0.
        var striped = Rect(2, 26, 4, 24, (y, _) => (byte)((y / 2) % 2 == 0 ? 100 : 220));
        var m = FashionPixelAttributes.Measure(striped);
        Assert.Equal(0, m.EnergyX, 9);
        Assert.InRange(m.EnergyY, 0.2, 0.27);
        Assert.Contains("striped", FashionPixelAttributes.Describe(striped, 3));
        // A checkerboard changes along both axes: patterned, not striped.
        var checks = Rect(2, 26, 4, 24, (y, x) => (byte)(((y / 2) + (x / 2)) % 2 == 0 ? 100 : 220));
        var words = FashionPixelAttributes.Describe(checks, 3);
        Assert.Contains("patterned", words);
        Assert.DoesNotContain("striped", words);
        // A flat fill has no high-frequency energy.
        Assert.Contains("plain", FashionPixelAttributes.Describe(Rect(2, 26, 4, 24, (_, _) => 150), 3));
        // Shoes carry no surface word: their soles and laces are structure, not a pattern.
        Assert.DoesNotContain("striped", FashionPixelAttributes.Describe(striped, 7));
    }

    [Fact]
    public void SleevesWidthAndHeightComeFromTheSilhouette()
    {
        // A T shape: a 24-wide band of sleeves over the top 8 rows, a 12-wide body below: width at
        // 80 % of the height is half the width at 20 % → short sleeves (for tops only).
        var tee = Rect(2, 10, 2, 26, (_, _) => 150);
        var body = Rect(10, 26, 8, 20, (_, _) => 150);
        for (int i = 0; i < tee.Length; i++) tee[i] = Math.Max(tee[i], body[i]);
        Assert.Equal(0.5, FashionPixelAttributes.Measure(tee).SleeveRatio, 9);
        Assert.Contains("short-sleeved", FashionPixelAttributes.Describe(tee, 0));
        Assert.DoesNotContain("short-sleeved", FashionPixelAttributes.Describe(tee, 3));     // a dress has no sleeve word
        // A full block keeps its width all the way down: long sleeves; 20 wide × 24 high = 0.83 → wide.
        var block = Rect(2, 26, 4, 24, (_, _) => 150);
        var words = FashionPixelAttributes.Describe(block, 2);
        Assert.Contains("long-sleeved", words);
        Assert.Contains("wide", words);
        // A trouser-like strip 10 wide × 26 high (0.38) is narrow.
        Assert.Contains("narrow", FashionPixelAttributes.Describe(Rect(1, 27, 9, 19, (_, _) => 150), 1));
        // Shoes: 22 rows high → high (an ankle boot); 10 rows → low (a sneaker).
        Assert.Contains("high", FashionPixelAttributes.Describe(Rect(4, 26, 0, 28, (_, _) => 150), 9));
        Assert.Contains("low", FashionPixelAttributes.Describe(Rect(14, 24, 0, 28, (_, _) => 150), 7));
        // An empty image has no attributes, and the caption is then the class alone.
        Assert.Empty(FashionPixelAttributes.Describe(new byte[Side * Side], 2));
        Assert.Equal("a photo of a pullover", FashionPixelAttributes.Caption([], "pullover"));
        Assert.Equal("a photo of a dark striped long-sleeved pullover", FashionPixelAttributes.Caption(["dark", "striped", "long-sleeved"], "pullover"));
    }

    [Fact]
    public void RealImagesGetVariedAttributesAndTheCaptionsSayThem()
    {
        using var d = FashionMnist.Load("train", 1000);
        var counts = FashionPixelAttributes.Words.ToDictionary(w => w, _ => 0);
        foreach (var c in d.Captions!)
            foreach (var w in c.Split(' ')) if (counts.ContainsKey(w)) counts[w]++;
        // Every attribute word occurs; measured on the first 1000 training images (counts per word
        // from 7 % to 26 % of the images). Pullovers differ among themselves.
        Assert.All(counts, kv => Assert.InRange(kv.Value, 50, 300));
        var labels = d.Labels.data<long>().ToArray();
        var pullovers = d.Captions!.Where((_, i) => labels[i] == 2).Distinct().Count();
        Assert.True(pullovers >= 10, $"{pullovers} distinct pullover captions");
        Assert.All(d.Captions!, c => Assert.StartsWith("a photo of a ", c));
    }
}
