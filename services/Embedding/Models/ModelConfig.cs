using System.Text.Json;
using System.Text.Json.Serialization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Embedding.Models;

/// <summary>
/// A user model described by "&lt;name&gt;.json" in the model directory:
/// <code>
/// { "kind": "onnx" | "torchscript", "version": "1", "path": "net.onnx",
///   "preprocess_path": "prep.onnx",            // optional, ONNX only
///   "input": { "channels": 3, "height": 224, "width": 224 },
///   "normalize": { "scale": 0.00392157, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225] },
///   "taps": [ { "name": "pool", "value": "graph value or output key", "flatten": true } ] }
/// </code>
/// Every path is relative to the model directory and must stay inside it.
/// </summary>
public sealed class ModelConfig
{
    [JsonPropertyName("kind")] public string Kind { get; set; } = "";
    [JsonPropertyName("version")] public string Version { get; set; } = "1";
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("preprocess_path")] public string? PreprocessPath { get; set; }
    [JsonPropertyName("input")] public InputConfig Input { get; set; } = new();
    [JsonPropertyName("normalize")] public NormalizeConfig? Normalize { get; set; }
    [JsonPropertyName("taps")] public List<TapConfig> Taps { get; set; } = new();

    public sealed class InputConfig
    {
        [JsonPropertyName("channels")] public int Channels { get; set; } = 3;
        [JsonPropertyName("height")] public int Height { get; set; } = 224;
        [JsonPropertyName("width")] public int Width { get; set; } = 224;
    }

    public sealed class NormalizeConfig
    {
        [JsonPropertyName("scale")] public float Scale { get; set; } = 1f / 255;
        [JsonPropertyName("mean")] public float[] Mean { get; set; } = [0f];
        [JsonPropertyName("std")] public float[] Std { get; set; } = [1f];
    }

    public sealed class TapConfig
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("value")] public string Value { get; set; } = "";
        [JsonPropertyName("flatten")] public bool Flatten { get; set; }
    }

    public static ModelConfig Read(string file)
    {
        ModelConfig? c;
        try { c = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(file)); }
        catch (JsonException e) { throw new InvalidInputException(System.IO.Path.GetFileName(file), $"invalid model config: {e.Message}"); }
        if (c is null) throw new InvalidInputException(System.IO.Path.GetFileName(file), "empty model config");
        return c;
    }

    /// <summary>Builds the backbone, checking every path against the model directory.</summary>
    public IBackbone Load(string name, string modelDir, TorchSharp.torch.Device device, OnnxSettings onnx)
    {
        var norm = Normalize is null ? null : new PixelNormalization(Normalize.Scale, Normalize.Mean, Normalize.Std);
        var input = new InputSpec(Input.Channels, Input.Height, Input.Width, norm?.Describe() ?? "none (0-255)");
        if (Input.Channels is not (1 or 3) || Input.Height <= 0 || Input.Width <= 0)
            throw new InvalidInputException("input", $"model '{name}': channels must be 1 or 3 and sizes > 0");
        var taps = Taps.Select(t => new OnnxTap(t.Name, string.IsNullOrEmpty(t.Value) ? t.Name : t.Value, t.Flatten)).ToList();
        var path = ModelFiles.Confine(modelDir, Path, "path");
        return Kind switch
        {
            "onnx" => new OnnxBackbone(name, Version, "model-dir:" + Path, path, input, taps,
                PreprocessPath is null ? null : ModelFiles.Confine(modelDir, PreprocessPath, "preprocess_path"), norm, onnx),
            "torchscript" => new TorchScriptBackbone(name, Version, "model-dir:" + Path, path, input, taps, norm, device),
            _ => throw new InvalidInputException("kind", $"model '{name}': kind must be onnx or torchscript, got '{Kind}'"),
        };
    }
}
