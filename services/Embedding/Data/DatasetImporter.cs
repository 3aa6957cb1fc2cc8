using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Streaming;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Methods;
using ConceptSuite.Embedding.Images;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// ImportDataset: a header, then labelled encoded images or named row blocks ("images",
/// "labels", "concept_labels", "concept_masks"), or labelled texts (<see cref="TextImport"/>), or a
/// built-in source named by the header.
/// Everything is validated before the artifact is written.
/// </summary>
public sealed class DatasetImporter(ArtifactStore store, RequestBudget budget, IOptions<SuiteOptions> suite, IOptions<EmbeddingOptions> options)
{
    static readonly string[] BlockNames = ["images", "labels", "concept_labels", "concept_masks"];

    public async Task<ArtifactInfo> ImportAsync(IAsyncEnumerable<ImportDatasetRequest> stream, CancellationToken ct)
    {
        await using var e = stream.GetAsyncEnumerator(ct);
        if (!await e.MoveNextAsync()) throw new InvalidInputException("header", "stream is empty; the first message must be the header");
        if (e.Current.PartCase != ImportDatasetRequest.PartOneofCase.Header) throw new InvalidInputException("header", "the first message must be the header");
        var h = e.Current.Header;
        if (h.Limit < 0) throw new InvalidInputException("header.limit", "must be >= 0");
        if (h.Channels is not (0 or 1 or 3)) throw new InvalidInputException("header.channels", "must be 0, 1 or 3");
        if (h.Height < 0 || h.Width < 0 || (h.Height == 0) != (h.Width == 0)) throw new InvalidInputException("header.height", "height and width must both be 0 or both > 0");
        budget.Names("header.class_names", h.ClassNames);
        budget.Names("header.concept_names", h.ConceptNames);
        int maxSide = options.Value.MaxImageSide;
        if (h.Height > maxSide) throw new InvalidInputException("header.height", $"must be at most {maxSide} (ConceptSuite:Embedding:MaxImageSide), got {h.Height}");
        if (h.Width > maxSide) throw new InvalidInputException("header.width", $"must be at most {maxSide} (ConceptSuite:Embedding:MaxImageSide), got {h.Width}");

        if (!string.IsNullOrEmpty(h.Source))
        {
            var named = DatasetSources.Create(h.Source, h.Options, store);
            budget.Bytes("header.limit", named.BytesFor(h.Limit));
            if (h.Limit > int.MaxValue) throw new InvalidInputException("header.limit", $"must be at most {int.MaxValue}");
            if (await e.MoveNextAsync()) throw new InvalidInputException("header.source", "a built-in source takes no rows after the header");
            if (named is ITextSource texts)
            {
                var corpus = texts.LoadTexts((int)h.Limit, h.Seed);
                if (!string.IsNullOrEmpty(h.Name)) corpus = corpus with { Name = h.Name };
                return await corpus.SaveAsync(store, ct);
            }
            var source = (IDatasetSource)named;
            using var d = TensorScope.Run(() => source.Load((int)h.Limit, h.Seed).DetachFromDisposeScope());
            return await DatasetArtifacts.WriteAsync(store, string.IsNullOrEmpty(h.Name) ? d.Name : h.Name, d.Images, d.Labels,
                h.ClassNames.Count > 0 ? h.ClassNames : d.ClassNames, d.ConceptLabels, d.ConceptNames, d.ConceptMasks, d.Captions, ct);
        }
        if (h.Options.Count > 0) throw new InvalidInputException("header.options", "options belong to a built-in source (header.source)");

        var first = await e.MoveNextAsync() ? e.Current : null;
        if (first?.PartCase == ImportDatasetRequest.PartOneofCase.Text) return await TextImport.ImportAsync(store, budget, options.Value, h, first, e, ct);

        int channels = h.Channels == 0 ? 3 : h.Channels;
        var decoded = new List<torch.Tensor>();
        var decodedLabels = new List<long>();
        var blocks = BlockNames.ToDictionary(n => n, _ => new List<torch.Tensor>());
        try
        {
            var validator = new TensorStreamValidator(new TensorStreamRules { Field = "blocks", RejectNonFinite = true, RejectEmpty = false });
            long index = 0, held = 0;
            long maxImages = suite.Value.MaxDecodedImages;
            // Conforming to header.height/width works on float32 copies of one image: checked before the first decode.
            if (h.Height > 0) budget.Bytes("header.height", 4L * channels * h.Height * h.Width * 2);
            for (var pending = first; pending is not null; pending = await e.MoveNextAsync() ? e.Current : null)
            {
                var m = pending;
                switch (m.PartCase)
                {
                    case ImportDatasetRequest.PartOneofCase.Image:
                    {
                        string field = $"images[{index}].data";
                        if (m.Image.Label < 0) throw new InvalidInputException($"images[{index}].label", "must be >= 0");
                        budget.Classes($"images[{index}].label", m.Image.Label);
                        if (index >= maxImages)
                            throw new ResourceExhaustedException($"images: more than {maxImages} encoded images in one call (ConceptSuite:MaxDecodedImages)");
                        decoded.Add(TensorScope.Keep(() =>
                        {
                            var img = ImageCodec.Decode(m.Image.Image is null ? ReadOnlySpan<byte>.Empty : m.Image.Image.Data.Span, channels, options.Value.MaxImageSide, field);
                            if (h.Height > 0)
                                return ImageConform.ToModelInput(img.unsqueeze(0), channels, h.Height, h.Width, field).round().clamp(0, 255).to_type(torch.ScalarType.Byte).squeeze(0);
                            if (decoded.Count > 0 && !decoded[0].shape.SequenceEqual(img.shape))
                                throw new InvalidInputException(field, $"image is {img.shape[2]}x{img.shape[1]}, earlier ones {decoded[0].shape[2]}x{decoded[0].shape[1]}; set header.height/width to resize");
                            return img;
                        }));
                        decodedLabels.Add(m.Image.Label);
                        // Decoded images are held until the artifact is written, then stacked: twice their bytes.
                        held += decoded[^1].numel();
                        budget.Bytes("images", 2 * held);
                        index++;
                        break;
                    }
                    case ImportDatasetRequest.PartOneofCase.Block:
                    {
                        var b = m.Block;
                        if (!blocks.ContainsKey(b.Name)) throw new InvalidInputException("block.name", $"must be one of {string.Join(", ", BlockNames)}, got '{b.Name}'");
                        validator.Accept(b);
                        // Blocks are held until the end, then concatenated: twice their bytes.
                        budget.Bytes($"block.{b.Name}", 2 * validator.TotalBytes);
                        blocks[b.Name].Add(TensorScope.Keep(() => TensorCodec.ToTorch(b.Tensor, $"block.{b.Name}").clone()));
                        break;
                    }
                    default:
                        throw new InvalidInputException("part", "after the header only images or blocks may follow (or only texts)");
                }
            }
            validator.Complete();
            if (decoded.Count > 0 && blocks.Values.Any(l => l.Count > 0))
                throw new InvalidInputException("part", "send either encoded images or row blocks, not both");
            if (decoded.Count == 0 && blocks["images"].Count == 0) throw new InvalidInputException("images", "the stream carries no images");
            if (decoded.Count == 0 && blocks["labels"].Count == 0) throw new InvalidInputException("labels", "the stream carries no labels");
            using var assembled = TensorScope.Run(() =>
            {
                torch.Tensor images, labels;
                torch.Tensor? conceptLabels = null, masks = null;
                if (decoded.Count > 0)
                {
                    images = torch.stack(decoded, 0);
                    labels = torch.tensor(decodedLabels.ToArray());
                }
                else
                {
                    images = torch.cat(blocks["images"], 0);
                    labels = torch.cat(blocks["labels"], 0);
                    if (blocks["concept_labels"].Count > 0) conceptLabels = torch.cat(blocks["concept_labels"], 0);
                    if (blocks["concept_masks"].Count > 0) masks = torch.cat(blocks["concept_masks"], 0);
                }
                if (h.Limit > 0 && images.shape[0] > h.Limit)
                {
                    images = images.narrow(0, 0, h.Limit); labels = labels.narrow(0, 0, h.Limit);
                    conceptLabels = conceptLabels?.narrow(0, 0, h.Limit); masks = masks?.narrow(0, 0, h.Limit);
                }
                budget.Classes("labels", labels);
                return new ImageDataset(h.Name, images.contiguous(), labels.contiguous(), h.ClassNames,
                    conceptLabels?.contiguous(), h.ConceptNames, masks?.contiguous()).DetachFromDisposeScope();
            });
            return await DatasetArtifacts.WriteAsync(store, h.Name, assembled.Images, assembled.Labels, h.ClassNames,
                assembled.ConceptLabels, h.ConceptNames, assembled.ConceptMasks, ct: ct);
        }
        finally
        {
            foreach (var t in decoded.Concat(blocks.Values.SelectMany(l => l))) t.Dispose();
        }
    }
}
