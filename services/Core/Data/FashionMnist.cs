using TorchSharp;

namespace ConceptSuite.Core.Data;

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017): 60k train + 10k test grey 28×28 images of 10 clothing
/// classes, from the Debian package dataset-fashion-mnist (fetched into .cache/ when absent).
/// </summary>
public static class FashionMnist
{
    public const string Package = "dataset-fashion-mnist";
    public const string InstalledDir = "/usr/share/datasets/fashion-mnist";

    public static readonly IReadOnlyList<string> ClassNames =
        ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];

    /// <summary>The folder holding the four .gz IDX files.</summary>
    public static string Directory() => DebianPackages.Locate(Package, InstalledDir);

    /// <param name="split">"train" or "test".</param>
    /// <param name="limit">First rows only (the files' order is already shuffled across classes).</param>
    public static ImageDataset Load(string split, long? limit = null)
    {
        var prefix = split switch
        {
            "train" => "train",
            "test" => "t10k",
            _ => throw new Contracts.InvalidInputException("split", $"must be 'train' or 'test', got '{split}'"),
        };
        var dir = Directory();
        var images = Idx.Read(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), limit);
        var labels = Idx.Read(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), limit).to(torch.ScalarType.Int64);
        if (images.shape[0] != labels.shape[0]) throw new InvalidDataException("Fashion-MNIST images and labels differ in count");
        var n = images.shape[0];
        // Captions say what is visible: the pixel attributes of each image before its class name.
        var captions = new List<string>((int)n);
        var l = labels.data<long>().ToArray();
        var pixels = images.data<byte>().ToArray();
        for (int i = 0; i < n; i++)
            captions.Add(FashionPixelAttributes.Caption(FashionPixelAttributes.Describe(pixels.AsSpan(i * 28 * 28, 28 * 28), (int)l[i]), ClassNames[(int)l[i]]));
        return new ImageDataset($"fashion-mnist-{split}", images.unsqueeze(1), labels, ClassNames, Captions: captions);
    }
}
