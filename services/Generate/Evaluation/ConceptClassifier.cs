using ConceptSuite.Generate.Data;
using ConceptSuite.Generate.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ConceptSuite.Generate.Evaluation;

/// <summary>
/// The judge of generated images: a small CNN trained on real concept images with one softmax
/// head per attribute group (colour, shape, ...), so it reports which colour and which shape an
/// image shows. Input images in [−1, 1], [B,3,S,S].
/// </summary>
public sealed class ConceptClassifier : nn.Module
{
    readonly Sequential features;
    readonly Linear head;
    readonly (string Group, string[] Concepts, int Offset)[] _groups;

    public ConceptClassifier(IReadOnlyDictionary<string, string[]> groups, int imageSize) : base("concept_classifier")
    {
        _groups = [];
        int off = 0;
        var list = new List<(string, string[], int)>();
        foreach (var g in ConceptVocabulary.GroupOrder)
            if (groups.TryGetValue(g, out var cs) && cs.Length > 1) { list.Add((g, cs, off)); off += cs.Length; }
        _groups = list.ToArray();
        ImageSize = imageSize;
        features = Sequential(
            Conv2d(3, 32, 3, padding: 1), ReLU(),
            Conv2d(32, 64, 3, stride: 2, padding: 1), ReLU(),
            Conv2d(64, 64, 3, stride: 2, padding: 1), ReLU(),
            Flatten());
        head = Linear(64 * (imageSize / 4) * (imageSize / 4), Math.Max(1, off));
        RegisterComponents();
    }

    public int ImageSize { get; }
    /// <summary>Groups the classifier judges (those with at least two concepts).</summary>
    public IEnumerable<(string Group, string[] Concepts)> Groups => _groups.Select(g => (g.Group, g.Concepts));

    /// <summary>Logits per group, each [B, |group|].</summary>
    public Dictionary<string, Tensor> Logits(Tensor images)
    {
        var z = head.forward(features.forward(images));
        return _groups.ToDictionary(g => g.Group, g => z[.., g.Offset..(g.Offset + g.Concepts.Length)]);
    }

    /// <summary>Probabilities per group [B, |group|], no gradients.</summary>
    public Dictionary<string, Tensor> Predict(Tensor images)
    {
        eval();
        using var _ = inference_mode();
        var device = head.weight!.device;
        return Logits(images.to(device)).ToDictionary(kv => kv.Key, kv => kv.Value.softmax(-1).cpu());
    }

    /// <summary>Cross-entropy training on real images (Adam, lr 2e-3). Returns held-out accuracy per group.</summary>
    public Dictionary<string, double> Fit(ConceptImages trainSet, ConceptImages heldOut, int epochs = 4, int batchSize = 64, int seed = 0)
    {
        var device = head.weight!.device;
        var x = trainSet.Normalized().to(device);
        var targets = Targets(trainSet).ToDictionary(kv => kv.Key, kv => kv.Value.to(device));
        using var opt = optim.Adam(parameters(), 2e-3);
        long n = trainSet.Count;
        using var g = new Generator((ulong)seed);
        for (int e = 0; e < epochs; e++)
        {
            train();
            var perm = randperm(n, generator: g).to(device);
            for (long i = 0; i < n; i += batchSize)
            {
                using var scope = NewDisposeScope();
                var idx = perm.slice(0, i, Math.Min(n, i + batchSize), 1);
                var logits = Logits(x.index_select(0, idx));
                Tensor loss = zeros(1, device: device);
                foreach (var (grp, lg) in logits) loss = loss + functional.cross_entropy(lg, targets[grp].index_select(0, idx));
                opt.zero_grad();
                loss.backward();
                opt.step();
            }
        }
        x.Dispose();
        return Accuracy(heldOut);
    }

    /// <summary>Fraction of images whose predicted concept equals the label, per group.</summary>
    public Dictionary<string, double> Accuracy(ConceptImages data)
    {
        var p = Predict(data.Normalized());
        var t = Targets(data);
        return p.ToDictionary(kv => kv.Key, kv => kv.Value.argmax(-1).eq(t[kv.Key]).to_type(ScalarType.Float32).mean().item<float>() * 1.0);
    }

    /// <summary>Index of the active concept of each group per sample (−1 never happens for generated sets).</summary>
    Dictionary<string, Tensor> Targets(ConceptImages data)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (grp, concepts, _) in _groups)
        {
            var cols = concepts.Select(c => data.ConceptNames.ToList().IndexOf(c)).ToArray();
            if (cols.Any(c => c < 0)) throw new Contracts.InvalidInputException("dataset", $"group {grp} needs concepts {string.Join(", ", concepts)}");
            result[grp] = data.ConceptLabels.index_select(1, tensor(cols.Select(c => (long)c).ToArray())).argmax(1);
        }
        return result;
    }
}
