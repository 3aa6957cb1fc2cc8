using System.Diagnostics;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Streaming;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// RegisterModel: the spec is checked first (names, input, preprocessing, taps), then the declared
/// size against ConceptSuite:Embedding:MaxModelBytes and the per-call budget before a byte is
/// buffered; the chunks are counted as they come (more than declared, or fewer when the stream
/// ends, is INVALID_ARGUMENT naming <c>chunk</c>). The bytes are loaded, dry-run on a black image
/// (each tap's shape and dtype measured; submodule taps checked), and only then stored as one
/// "model" artifact, so a refused model leaves nothing behind.
/// </summary>
public sealed class ModelRegistration(ModelRegistry registry, ArtifactStore store, RequestBudget budget, torch.Device device, IOptions<EmbeddingOptions> options)
{
    readonly EmbeddingOptions _options = options.Value;
    readonly SemaphoreSlim _names = new(1, 1);

    public async Task<RegisterModelResponse> RegisterAsync(IAsyncStreamReader<RegisterModelRequest> requests, CancellationToken ct)
    {
        var (spec, chunks) = await ConfigFirstStream.ReadPartsAsync(requests, r => r.Spec,
            r => r.PartCase == RegisterModelRequest.PartOneofCase.Chunk ? r.Chunk : null, ct, "spec");
        var meta = RegisteredModels.FromSpec(spec);
        CheckNameFree(meta.Name);
        long total = spec.SizeBytes + spec.PreprocessSizeBytes;
        if (total > _options.MaxModelBytes)
            throw new ResourceExhaustedException($"spec.size_bytes: the model is {total} bytes, over the cap of {_options.MaxModelBytes} bytes (ConceptSuite:Embedding:MaxModelBytes)");
        // Held at once: the received bytes, their split into model and preprocessing model, and
        // ONNX Runtime's / TorchScript's copy of the weights.
        budget.Bytes("spec.size_bytes", 3, total, "copies of the model");

        var all = await DeclaredBytes.ReadAsync(chunks, total, "spec.size_bytes + spec.preprocess_size_bytes", ct);
        var model = spec.PreprocessSizeBytes == 0 ? all : all[..(int)spec.SizeBytes];
        var preprocess = spec.PreprocessSizeBytes == 0 ? null : all[(int)spec.SizeBytes..];
        ct.ThrowIfCancellationRequested();

        var sw = Stopwatch.StartNew();
        var measured = await Task.Run(() => DryRun(meta, model, preprocess), ct);
        double dryRunSeconds = sw.Elapsed.TotalSeconds;

        await _names.WaitAsync(ct);
        try
        {
            CheckNameFree(meta.Name);
            ArtifactInfo info;
            using (var w = store.BeginWrite(RegisteredModels.Kind))
            {
                w.MetadataJson = JsonSerializer.Serialize(measured);
                w.RunJson = JsonSerializer.Serialize(new { dry_run_seconds = dryRunSeconds });
                w.Labels["stage"] = "embedding";
                w.Labels["name"] = meta.Name;
                w.Labels["format"] = meta.Format;
                w.AppendRows("model", DType.Uint8, [model.LongLength], model);
                if (preprocess is not null) w.AppendRows("preprocess", DType.Uint8, [preprocess.LongLength], preprocess);
                // The id hashes the bytes and the spec: the same upload is the same artifact.
                var existing = registry.FindRegistered(meta.Name);
                info = await w.CommitAsync(ct);
                if (existing is not null && existing.Ref.Id != info.Ref.Id)
                {
                    // Registrations hold this lock, so no other model of this name was stored meanwhile.
                    store.Delete(info.Ref.Id);
                    throw NameTaken(meta.Name, existing.Ref.Id);
                }
            }
            var response = new RegisterModelResponse { Model = RegisteredModels.Describe(info, _options.MaxBatch, "model"), Artifact = info };
            foreach (var t in measured.Taps)
            {
                var rt = new RegisteredTap { Name = t.Name, Source = t.Source, Dtype = t.DType };
                rt.Shape.Add(t.Shape);
                response.Taps.Add(rt);
            }
            return response;
        }
        finally { _names.Release(); }
    }

    /// <summary>FAILED_PRECONDITION naming <c>spec.name</c> when another model serves under the name.</summary>
    void CheckNameFree(string name)
    {
        if (ModelRegistry.IsBundledName(name) || registry.InModelDir(name))
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"spec.name: '{name}' is a model the stage already serves (bundled or in the model directory); choose another name"));
    }

    static RpcException NameTaken(string name, string id) =>
        new(new Status(StatusCode.FailedPrecondition,
            $"spec.name: '{name}' is registered as {RegisteredModels.Prefix}{id}; delete that artifact (DeleteArtifact) or choose another name"));

    /// <summary>Loads the bytes and runs the model once on a black image: the metadata with each tap's shape and dtype.</summary>
    RegisteredModelMeta DryRun(RegisteredModelMeta meta, byte[] model, byte[]? preprocess)
    {
        IBackbone backbone;
        try { backbone = RegisteredModels.Build(meta, meta.Name, "upload", model, preprocess, device, OnnxSettings.From(_options)); }
        catch (InvalidInputException e) { throw Renamed(e); }
        using (backbone)
        {
            IReadOnlyList<TapSpec> taps;
            try
            {
                if (backbone is TorchScriptBackbone ts) ts.CheckModuleTaps();
                taps = backbone.Taps;
            }
            catch (InvalidInputException e) { throw Renamed(e); }
            catch (Exception e) when (e is not (OperationCanceledException or NotFoundException or ResourceExhaustedException))
            {
                throw new InvalidInputException("spec", $"the dry run on a black [1, {meta.Channels}, {meta.Height}, {meta.Width}] image failed " +
                    $"(check spec.channels, spec.height, spec.width and the model's input rank): {FirstLine(e.Message)}");
            }
            var dtypes = backbone is TorchScriptBackbone t ? t.TapDTypes : null;
            for (int i = 0; i < meta.Taps.Count; i++)
            {
                var spec = taps.Single(x => x.Name == meta.Taps[i].Name);
                if (spec.Shape.Length == 0 || spec.Shape.Any(d => d <= 0))
                    throw new InvalidInputException($"spec.taps[{i}]", $"tap '{spec.Name}' has per-row shape [{string.Join(", ", spec.Shape)}]; a tap needs at least one dimension, none empty");
                meta.Taps[i].Shape = spec.Shape;
                // ONNX taps are declared float32 graph outputs: a value of another type fails the dry run.
                meta.Taps[i].DType = dtypes?[spec.Name] ?? "float32";
            }
            if (meta.Taps.Count == 0)
            {
                // A TorchScript module that returns one tensor: its output is the one tap.
                var only = taps.Single();
                meta.Taps.Add(new RegisteredModelMeta.Tap { Name = only.Name, Source = only.Source, Shape = only.Shape, DType = dtypes?[only.Name] ?? "float32" });
            }
        }
        return meta;
    }

    /// <summary>A backbone's field ("model", "preprocess", "taps[i]", "taps") as the request names it.</summary>
    static InvalidInputException Renamed(InvalidInputException e)
    {
        string field = e.Field switch
        {
            "model" => "chunk",
            "preprocess" => "chunk",
            "taps" => "spec.taps",
            var f when f.StartsWith("taps[", StringComparison.Ordinal) => "spec." + f + ".source",
            var f => "spec." + f,
        };
        string what = e.Field == "preprocess" ? "the preprocessing model (after spec.size_bytes): " : e.Field == "model" ? "the model file: " : "";
        return new InvalidInputException(field, what + FirstLine(e.Rule));
    }

    static string FirstLine(string s)
    {
        int i = s.IndexOf('\n');
        return i < 0 ? s : s[..i];
    }
}
