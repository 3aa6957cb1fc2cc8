using System.Text.Json.Serialization;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// Models registered by RegisterModel, stored as "model" artifacts: tensor "model" (uint8, the
/// file's bytes), optional "preprocess" (uint8, an ONNX preprocessing model) and
/// <see cref="RegisteredModelMeta"/> (the checked spec plus each tap's measured shape and dtype),
/// so the id hashes the file bytes and the spec. Served by name and as "model:&lt;artifact id&gt;".
/// The kind is stage-produced (clients cannot upload one through PutArtifact), and the metadata is
/// checked again whenever a model is loaded or listed.
/// </summary>
public static class RegisteredModels
{
    public const string Kind = "model";
    public const string Prefix = "model:";
    public const int MaxSide = 4096;
    public const int MaxTaps = 64;

    /// <summary>Registry names: 1-128 characters of [A-Za-z0-9._-], not starting with a dot.</summary>
    public static bool IsValidName(string name) =>
        name.Length is >= 1 and <= 128 && !name.StartsWith('.') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>
    /// The spec checked and turned into the metadata to store (shapes and dtypes still empty):
    /// INVALID_ARGUMENT naming the <c>spec.…</c> field at fault.
    /// </summary>
    public static RegisteredModelMeta FromSpec(RegisterModelSpec spec)
    {
        if (!IsValidName(spec.Name)) throw new InvalidInputException("spec.name", "must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'");
        if (spec.Format is not ("onnx" or "torchscript")) throw new InvalidInputException("spec.format", $"must be 'onnx' or 'torchscript', got '{spec.Format}'");
        if (spec.Channels is not (1 or 3)) throw new InvalidInputException("spec.channels", $"must be 1 or 3, got {spec.Channels}");
        if (spec.Height is < 1 or > MaxSide) throw new InvalidInputException("spec.height", $"must be in [1, {MaxSide}], got {spec.Height}");
        if (spec.Width is < 1 or > MaxSide) throw new InvalidInputException("spec.width", $"must be in [1, {MaxSide}], got {spec.Width}");
        if (spec.SizeBytes <= 0) throw new InvalidInputException("spec.size_bytes", "must be > 0 (the model file's exact size)");
        if (spec.PreprocessSizeBytes < 0) throw new InvalidInputException("spec.preprocess_size_bytes", "must be >= 0");
        if (spec.PreprocessSizeBytes > 0 && spec.Format != "onnx") throw new InvalidInputException("spec.preprocess_size_bytes", "a preprocessing model is for ONNX models only");
        if (spec.Version.Length > 128) throw new InvalidInputException("spec.version", "at most 128 characters");

        var p = spec.Preprocessing ?? new ModelPreprocessing();
        var order = string.IsNullOrEmpty(p.ChannelOrder) ? "rgb" : p.ChannelOrder;
        if (order is not ("rgb" or "bgr")) throw new InvalidInputException("spec.preprocessing.channel_order", $"must be 'rgb' or 'bgr', got '{p.ChannelOrder}'");
        if (order == "bgr" && spec.Channels != 3) throw new InvalidInputException("spec.preprocessing.channel_order", "'bgr' needs 3 channels");
        var scaling = string.IsNullOrEmpty(p.Scaling) ? "unit" : p.Scaling;
        if (scaling is not ("unit" or "byte")) throw new InvalidInputException("spec.preprocessing.scaling", $"must be 'unit' (x/255) or 'byte' (0-255), got '{p.Scaling}'");
        CheckPerChannel(p.Mean, spec.Channels, "spec.preprocessing.mean", positive: false);
        CheckPerChannel(p.Std, spec.Channels, "spec.preprocessing.std", positive: true);

        if (spec.Format == "onnx" && spec.Taps.Count == 0) throw new InvalidInputException("spec.taps", "an ONNX model needs at least one tap (a graph value name)");
        if (spec.Taps.Count > MaxTaps) throw new InvalidInputException("spec.taps", $"at most {MaxTaps} taps");
        var taps = new List<RegisteredModelMeta.Tap>();
        for (int i = 0; i < spec.Taps.Count; i++)
        {
            var t = spec.Taps[i];
            string field = $"spec.taps[{i}]";
            if (t.Name.Length is < 1 or > 128 || !t.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
                throw new InvalidInputException(field + ".name", "must be 1-128 characters of [A-Za-z0-9._:-]");
            if (taps.Any(x => x.Name == t.Name)) throw new InvalidInputException(field + ".name", $"tap '{t.Name}' is named twice");
            var source = string.IsNullOrEmpty(t.Source) ? t.Name : t.Source;
            if (source.Length > 1024) throw new InvalidInputException(field + ".source", "at most 1024 characters");
            if (spec.Format == "onnx" && source.StartsWith(TorchScriptBackbone.ModulePrefix, StringComparison.Ordinal))
                throw new InvalidInputException(field + ".source", "submodule taps are for TorchScript models; an ONNX tap names a graph value");
            if (t.Flatten && spec.Format != "onnx") throw new InvalidInputException(field + ".flatten", "flattening is for ONNX taps; a TorchScript tap is returned as the module gives it");
            taps.Add(new RegisteredModelMeta.Tap { Name = t.Name, Source = source, Flatten = t.Flatten });
        }
        return new RegisteredModelMeta
        {
            Name = spec.Name, Format = spec.Format, Version = string.IsNullOrEmpty(spec.Version) ? "1" : spec.Version,
            Channels = spec.Channels, Height = spec.Height, Width = spec.Width,
            ChannelOrder = order, Scaling = scaling, Mean = p.Mean.ToArray(), Std = p.Std.ToArray(), Taps = taps,
            Preprocess = spec.PreprocessSizeBytes > 0,
        };
    }

    static void CheckPerChannel(IReadOnlyList<float> values, int channels, string field, bool positive)
    {
        if (values.Count is not (0 or 1) && values.Count != channels)
            throw new InvalidInputException(field, $"needs no value, one, or one per channel ({channels}); got {values.Count}");
        for (int i = 0; i < values.Count; i++)
        {
            if (!float.IsFinite(values[i])) throw new InvalidInputException($"{field}[{i}]", "must be finite");
            if (positive && !(values[i] > 0)) throw new InvalidInputException($"{field}[{i}]", $"must be > 0, got {values[i]}");
        }
    }

    /// <summary>The metadata of a stored model artifact, checked as a spec again (a forged or damaged one is refused).</summary>
    public static RegisteredModelMeta ReadMeta(ArtifactInfo info, string field)
    {
        var id = info.Ref.Id;
        var meta = ArtifactMetadata.Read<RegisteredModelMeta>(info, Kind, "model", field);
        try { FromSpec(meta.ToSpec(1)); }
        catch (InvalidInputException e) { throw new InvalidInputException(field, $"model {id}: stored spec is not valid ({e.Message})"); }
        if (meta.Taps.Count == 0 || meta.Taps.Any(t => t.Shape.Length == 0 || t.Shape.Any(d => d <= 0)))
            throw new InvalidInputException(field, $"model {id}: stored tap shapes are not valid");
        return meta;
    }

    /// <summary>Builds the backbone from the stored bytes. <paramref name="name"/> is the name it serves under.</summary>
    public static IBackbone Build(RegisteredModelMeta meta, string name, string source, byte[] model, byte[]? preprocess, torch.Device device, OnnxSettings onnx)
    {
        var norm = meta.Normalization();
        var input = new InputSpec(meta.Channels, meta.Height, meta.Width, norm.Describe());
        var taps = meta.Taps.Select(t => new OnnxTap(t.Name, t.Source, t.Flatten)).ToList();
        return meta.Format == "onnx"
            ? new OnnxBackbone(name, meta.Version, source, model, input, taps, preprocess, norm, onnx)
            : new TorchScriptBackbone(name, meta.Version, source, model, input, taps, norm, device);
    }

    /// <summary>Loads the model stored as artifact <paramref name="id"/>.</summary>
    public static IBackbone Load(ArtifactStore store, string id, torch.Device device, OnnxSettings onnx, string field)
    {
        using var reader = store.Open(id, field);
        var meta = ReadMeta(reader.Info, field);
        var model = Bytes(reader, "model", field);
        var preprocess = meta.Preprocess ? Bytes(reader, "preprocess", field) : null;
        return Build(meta, meta.Name, Source(id), model, preprocess, device, onnx);
    }

    static byte[] Bytes(ArtifactReader reader, string tensor, string field)
    {
        var e = reader.Entry(tensor, field);
        if (e.DType != DType.Uint8 || e.Shape.Length != 1) throw new InvalidInputException(field, $"model {reader.Info.Ref.Id}: tensor '{tensor}' must be uint8 [bytes]");
        using var t = reader.Read(tensor);
        return t.bytes.ToArray();
    }

    public static string Source(string id) => $"artifact:{id}";

    /// <summary>The model as ListModels describes it, from the metadata alone (nothing is loaded).</summary>
    public static ModelDescriptor Describe(ArtifactInfo info, int maxBatch, string field)
    {
        var meta = ReadMeta(info, field);
        var d = new ModelDescriptor
        {
            Name = meta.Name, Version = meta.Version, Kind = meta.Format, Source = Source(info.Ref.Id), MaxBatch = maxBatch,
            Input = new ModelInputSpec { Channels = meta.Channels, Height = meta.Height, Width = meta.Width, Preprocessing = meta.Normalization().Describe() },
        };
        foreach (var t in meta.Taps)
        {
            var td = new TapDescriptor { Name = t.Name, Layout = new TapSpec(t.Name, t.Shape, t.Source).Layout, Source = t.Source };
            td.Shape.Add(t.Shape);
            d.Taps.Add(td);
        }
        return d;
    }
}

/// <summary>Metadata of a "model" artifact: the registration spec, checked, with each tap's measured shape and dtype.</summary>
public sealed class RegisteredModelMeta
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("format")] public string Format { get; set; } = "";
    [JsonPropertyName("version")] public string Version { get; set; } = "1";
    [JsonPropertyName("channels")] public int Channels { get; set; }
    [JsonPropertyName("height")] public int Height { get; set; }
    [JsonPropertyName("width")] public int Width { get; set; }
    [JsonPropertyName("channel_order")] public string ChannelOrder { get; set; } = "rgb";
    [JsonPropertyName("scaling")] public string Scaling { get; set; } = "unit";
    [JsonPropertyName("mean")] public float[] Mean { get; set; } = [];
    [JsonPropertyName("std")] public float[] Std { get; set; } = [];
    [JsonPropertyName("preprocess")] public bool Preprocess { get; set; }
    [JsonPropertyName("taps")] public List<Tap> Taps { get; set; } = new();

    public sealed class Tap
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("source")] public string Source { get; set; } = "";
        [JsonPropertyName("flatten")] public bool Flatten { get; set; }
        [JsonPropertyName("shape")] public long[] Shape { get; set; } = [];
        [JsonPropertyName("dtype")] public string DType { get; set; } = "";
    }

    public PixelNormalization Normalization() => new(Scaling == "unit" ? 1f / 255 : 1f, Mean, Std, ChannelOrder == "bgr");

    /// <summary>The spec this metadata was made from (for re-checking a stored copy).</summary>
    public RegisterModelSpec ToSpec(long sizeBytes)
    {
        var spec = new RegisterModelSpec
        {
            Name = Name, Format = Format, Version = Version, Channels = Channels, Height = Height, Width = Width, SizeBytes = sizeBytes,
            PreprocessSizeBytes = Preprocess ? 1 : 0,
            Preprocessing = new ModelPreprocessing { ChannelOrder = ChannelOrder, Scaling = Scaling },
        };
        spec.Preprocessing.Mean.Add(Mean);
        spec.Preprocessing.Std.Add(Std);
        foreach (var t in Taps) spec.Taps.Add(new ModelTapSpec { Name = t.Name, Source = t.Source, Flatten = t.Flatten });
        return spec;
    }
}
