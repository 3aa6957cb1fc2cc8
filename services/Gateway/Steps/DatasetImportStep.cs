using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Tensors;
using TorchSharp;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// Imports a data set into the shared store as a "dataset" artifact (tensors images, labels and,
/// for concept-shapes, concept_labels and concept_masks; metadata name, class_names,
/// concept_names, captions — the layout of <see cref="ImageDataset"/>). Sources: "fashion-mnist"
/// (Debian package dataset-fashion-mnist; split train|test, limit) and "concept-shapes"
/// (procedural, with ground-truth concepts; count, seed, size, spurious). The tensors are uploaded
/// as ~1 MiB blocks; the id is content-derived, so importing the same rows twice stores one copy.
/// </summary>
public sealed class DatasetImportStep : IStepExecutor
{
    public string Method => "dataset.import";
    public string DefaultStage => "gateway";
    public IReadOnlyList<string> Inputs => [];
    public IReadOnlyList<string> Outputs => ["dataset"];
    public IReadOnlyList<string> Options => ["source", "split", "limit", "count", "seed", "size", "spurious"];
    public string Description => "Imports fashion-mnist (split, limit) or concept-shapes (count, seed, size, spurious) as a dataset artifact.";

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var source = ctx.Option("source", "fashion-mnist");
        // Disposed by `using`, not by a dispose scope: a scope is thread-static, and one held across the
        // upload's awaits stays current on the thread it was opened on, collecting (and later
        // disposing) tensors that other work creates on that thread meanwhile.
        using ImageDataset data = source switch
        {
            "fashion-mnist" => FashionMnist.Load(ctx.Option("split", "train"), ctx.Int("limit", 0, 0, 60000) is var l && l > 0 ? l : null),
            "concept-shapes" => ConceptShapes.Generate((int)ctx.Int("count", 1000, 1, 100000), (int)ctx.Int("seed", 0, 0, int.MaxValue),
                new ConceptShapesOptions { Size = (int)ctx.Int("size", 32, 12, 256), SpuriousBackground = ctx.Real("spurious", 0, 0, 1) }),
            _ => throw new InvalidInputException($"steps.{ctx.Step}.options.source", $"'{source}' is not fashion-mnist or concept-shapes"),
        };
        var tensors = new List<(string, torch.Tensor)> { ("images", data.Images), ("labels", data.Labels) };
        if (data.ConceptLabels is not null) tensors.Add(("concept_labels", data.ConceptLabels));
        if (data.ConceptMasks is not null) tensors.Add(("concept_masks", data.ConceptMasks));
        var meta = JsonSerializer.Serialize(new { name = data.Name, class_names = data.ClassNames, concept_names = data.ConceptNames, captions = data.Captions });
        long total = data.Count * tensors.Count, done = 0;
        var info = await ArtifactTransfer.PutAsync(ctx.StoreChannel, ImageDataset.Kind, meta,
            new Dictionary<string, string> { ["name"] = data.Name, ["producer"] = "gateway/dataset.import" }, Blocks(), ctx.CancellationToken);
        ctx.Progress(total, total, "rows", "upload");
        return new StepResult(new Dictionary<string, ArtifactRef> { ["dataset"] = info.Ref },
            new Dictionary<string, double> { ["rows"] = data.Count, ["classes"] = data.ClassNames.Count, ["bytes"] = info.SizeBytes });

        async IAsyncEnumerable<TensorBlock> Blocks()
        {
            foreach (var (name, t) in tensors)
                foreach (var b in TensorStreams.Split(t, name, null, TensorBlocks.DefaultMaxBlockBytes))
                {
                    yield return b;
                    done += b.Tensor.Shape[0];
                    ctx.Progress(done, total, "rows", "upload " + name);
                    await Task.Yield();
                }
        }
    }
}
