using System.Text.Json;
using System.Text.Json.Nodes;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Tensors;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Methods;
using TorchSharp;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>
/// Sparse autoencoders in SAELens' on-disk form (SAELens v6, <c>SAE.save_model</c> /
/// <c>SAE.load_from_disk</c>): cfg.json with <c>d_in</c>, <c>d_sae</c>, <c>architecture</c>
/// ("standard": ReLU, "topk" with <c>k</c>, "jumprelu"), <c>apply_b_dec_to_input</c>,
/// <c>normalize_activations</c>, <c>dtype</c>; and sae_weights.safetensors with W_enc [d_in, d_sae],
/// b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], plus threshold [d_sae] for JumpReLU. SAELens
/// encodes f = σ((x − b_dec·apply) W_enc + b_enc) with σ = ReLU, ReLU∘TopK_k, or
/// JumpReLU_θ(u) = ReLU(u)·1[u &gt; θ]; our SAEs compute the same with the b_dec term always applied
/// (an imported SAE without it has b_dec·W_enc folded into b_enc) and JumpReLU's θ = exp(log θ)
/// (θ = 0 is log θ = −∞, the same gate). BatchTopK exports as "jumprelu" with its inference
/// threshold in every latent, as SAELens saves BatchTopK SAEs for inference.
/// </summary>
public static class SaeLensFormat
{
    public const string Format = "saelens";

    /// <summary>SAELens architecture of each method that has one.</summary>
    static readonly Dictionary<string, string> Architectures = new(StringComparer.Ordinal)
    {
        ["relu_sae"] = "standard", ["topk_sae"] = "topk", ["jumprelu_sae"] = "jumprelu", ["batchtopk_sae"] = "jumprelu",
    };

    /// <summary>The cfg.json and the weights (float32, in SAELens' names) of a loaded dictionary.</summary>
    public static (string CfgJson, Dictionary<string, torch.Tensor> Weights) Export(DictionaryMeta meta, IConceptDictionary dict, string field)
    {
        if (!Architectures.TryGetValue(meta.Method, out var architecture))
            throw new InvalidInputException(field, $"method '{meta.Method}' has no SAELens form; exported are {string.Join(", ", Architectures.Keys)}");
        var state = dict.SaveState();
        var weights = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var k in new[] { "W_enc", "b_enc", "W_dec", "b_dec" }) weights[k] = state[k].to_type(torch.ScalarType.Float32).contiguous();
        var cfg = new JsonObject
        {
            ["architecture"] = architecture,
            ["d_in"] = meta.InputDim,
            ["d_sae"] = meta.Concepts,
            ["dtype"] = "float32",
            ["device"] = "cpu",
            ["apply_b_dec_to_input"] = true,
            ["normalize_activations"] = "none",
            ["reshape_activations"] = "none",
            ["meta"] = new JsonObject(),
        };
        switch (meta.Method)
        {
            case "topk_sae":
                cfg["k"] = int.Parse(meta.Options["k"], System.Globalization.CultureInfo.InvariantCulture);
                break;
            case "jumprelu_sae":
                weights["threshold"] = state["log_threshold"].to_type(torch.ScalarType.Float32).exp().contiguous();
                break;
            case "batchtopk_sae":
                double theta = state["threshold"].to_type(torch.ScalarType.Float64).item<double>();
                if (theta < 0) throw new InvalidInputException(field, "this BatchTopK SAE has no inference threshold yet (it was never trained)");
                weights["threshold"] = torch.full(meta.Concepts, (float)theta);
                break;
        }
        foreach (var (k, v) in state) if (!weights.ContainsKey(k) || !ReferenceEquals(weights[k], v)) v.Dispose();
        return (cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), weights);
    }

    /// <summary>The safetensors header for <paramref name="weights"/> in name order (the bytes follow in the same order).</summary>
    public static (byte[] Header, List<torch.Tensor> InOrder) Layout(IReadOnlyDictionary<string, torch.Tensor> weights)
    {
        var names = weights.Keys.Order(StringComparer.Ordinal).ToList();
        var header = Safetensors.Header(names.Select(n => (n, DType.Float32, weights[n].shape, weights[n].numel() * 4)),
            new Dictionary<string, string> { ["format"] = "pt" });
        return (header, names.Select(n => weights[n]).ToList());
    }

    /// <summary>
    /// An SAE from SAELens' cfg.json and safetensors bytes: the matching method built and loaded, with
    /// its meta. Everything is checked before a tensor is made (INVALID_ARGUMENT naming
    /// <c>header.cfg_json…</c> or <c>chunk</c>; RESOURCE_EXHAUSTED past the per-call budget).
    /// </summary>
    public static (DictionaryMeta Meta, IConceptDictionary Dictionary) Import(string cfgJson, byte[] file, string name, RequestBudget budget)
    {
        const string cfgField = "header.cfg_json";
        JsonObject cfg;
        try { cfg = JsonNode.Parse(cfgJson) as JsonObject ?? throw new InvalidInputException(cfgField, "must be a JSON object"); }
        catch (JsonException e) { throw new InvalidInputException(cfgField, $"is not JSON: {e.Message}"); }
        string architecture = Str(cfg, "architecture", cfgField) ?? "standard";
        string method = architecture switch
        {
            "standard" => "relu_sae", "topk" => "topk_sae", "jumprelu" => "jumprelu_sae",
            _ => throw new InvalidInputException(cfgField + ".architecture", $"'{architecture}' is not imported; imported are standard, topk, jumprelu"),
        };
        long dIn = Int(cfg, "d_in", cfgField) ?? throw new InvalidInputException(cfgField + ".d_in", "is required");
        long dSae = Int(cfg, "d_sae", cfgField) ?? throw new InvalidInputException(cfgField + ".d_sae", "is required");
        if (dIn is < 1 or > 1 << 20) throw new InvalidInputException(cfgField + ".d_in", $"must be in [1, {1 << 20}], got {dIn}");
        if (dSae is < 1 or > 1 << 24) throw new InvalidInputException(cfgField + ".d_sae", $"must be in [1, {1 << 24}], got {dSae}");
        // Held at once: the file, the float32 weights and the dictionary's copy, each with W_enc and W_dec.
        budget.Bytes(cfgField + ".d_sae", RequestBudget.Product(6, dSae), RequestBudget.Product(4, dIn), "rows of W_enc and W_dec (three copies)");
        string norm = Str(cfg, "normalize_activations", cfgField) ?? "none";
        if (norm != "none")
            throw new InvalidInputException(cfgField + ".normalize_activations", $"'{norm}' needs statistics the file does not hold; fold them into the weights (SAELens fold_activation_norm_scaling_factor) and export with \"none\"");
        string reshape = Str(cfg, "reshape_activations", cfgField) ?? "none";
        if (reshape != "none") throw new InvalidInputException(cfgField + ".reshape_activations", $"'{reshape}' is not supported; only \"none\"");
        bool applyBDec = cfg["apply_b_dec_to_input"] is not JsonValue v || (v.TryGetValue<bool>(out var b) ? b : throw new InvalidInputException(cfgField + ".apply_b_dec_to_input", "must be true or false"));
        var options = new Dictionary<string, string>(StringComparer.Ordinal) { ["normalize"] = "false" };
        if (method == "topk_sae")
        {
            long k = Int(cfg, "k", cfgField) ?? throw new InvalidInputException(cfgField + ".k", "is required for architecture topk");
            if (k < 1 || k > dSae) throw new InvalidInputException(cfgField + ".k", $"must be in [1, d_sae = {dSae}], got {k}");
            options["k"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["W_enc"] = [dIn, dSae], ["b_enc"] = [dSae], ["W_dec"] = [dSae, dIn], ["b_dec"] = [dIn],
        };
        if (method == "jumprelu_sae") expected["threshold"] = [dSae];
        var tensors = ReadSafetensors(file, expected);
        var state = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        IConceptDictionary? dict = null;
        try
        {
            using (torch.no_grad())
            {
                state["W_enc"] = tensors["W_enc"];
                state["W_dec"] = tensors["W_dec"];
                state["b_dec"] = tensors["b_dec"];
                // (x − b_dec) W_enc + b_enc' = x W_enc + b_enc when b_enc' = b_enc + b_dec W_enc.
                state["b_enc"] = applyBDec ? tensors["b_enc"] : tensors["b_enc"] + tensors["b_dec"].matmul(tensors["W_enc"]);
                if (method == "jumprelu_sae")
                {
                    var theta = tensors["threshold"];
                    if ((theta < 0).any().item<bool>())
                        throw new InvalidInputException("chunk", "tensor 'threshold' holds negative values; a JumpReLU threshold is >= 0");
                    state["log_threshold"] = theta.log();
                }
            }
            dict = DictionaryMethods.Create(method, checked((int)dSae), options, "header.cfg_json");
            dict.LoadState(state);
        }
        catch
        {
            dict?.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
            foreach (var t in state.Values) t.Dispose();
        }
        var (_, values) = DictionaryMethods.Parse(method, checked((int)dSae), options, "header.cfg_json");
        var meta = new DictionaryMeta
        {
            Name = string.IsNullOrEmpty(name) ? $"{method}_{dSae}" : name, Method = method, Concepts = checked((int)dSae), InputDim = checked((int)dIn),
            Options = new(values.Canonical),
        };
        return (meta, dict);
    }

    /// <summary>
    /// The tensors of a safetensors file, each required by <paramref name="expected"/> with that
    /// shape, as float32 with finite values; INVALID_ARGUMENT naming <c>chunk</c> otherwise.
    /// </summary>
    static Dictionary<string, torch.Tensor> ReadSafetensors(byte[] file, IReadOnlyDictionary<string, long[]> expected)
    {
        // The header's declared length is checked against the file before the reader allocates it.
        if (file.Length < 8 || System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(file) > (ulong)(file.Length - 8))
            throw new InvalidInputException("chunk", "not a safetensors file: the header length exceeds the file");
        List<SafetensorsEntry> entries;
        try { entries = Safetensors.ReadHeader(new MemoryStream(file, writable: false)).Entries; }
        catch (Exception e) when (e is InvalidDataException or JsonException or EndOfStreamException or KeyNotFoundException or InvalidOperationException
                                      or FormatException or OverflowException or ArgumentException)
        {
            throw new InvalidInputException("chunk", $"not a safetensors file: {e.Message}");
        }
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, shape) in expected)
            {
                var e = entries.FirstOrDefault(x => x.Name == name) ?? throw new InvalidInputException("chunk", $"the safetensors file has no tensor '{name}'");
                if (!e.Shape.SequenceEqual(shape))
                    throw new InvalidInputException("chunk", $"tensor '{name}' is [{string.Join(", ", e.Shape)}]; the cfg says [{string.Join(", ", shape)}]");
                if (e.DType is not (DType.Float32 or DType.Float16 or DType.Bfloat16 or DType.Float64))
                    throw new InvalidInputException("chunk", $"tensor '{name}' is {e.DType}; weights must be floating point");
                if (e.Begin < 0 || e.End > file.LongLength || e.End < e.Begin)
                    throw new InvalidInputException("chunk", $"tensor '{name}' lies outside the file ({file.LongLength} bytes)");
                using var raw = TensorCodec.FromBytes(e.DType, e.Shape, file.AsMemory((int)e.Begin, (int)(e.End - e.Begin)));
                var t = raw.to_type(torch.ScalarType.Float32).clone();
                result[name] = t;
                if (!t.isfinite().all().item<bool>()) throw new InvalidInputException("chunk", $"tensor '{name}' holds NaN or Inf");
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    static string? Str(JsonObject cfg, string key, string field) => cfg[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new InvalidInputException($"{field}.{key}", "must be a string"),
    };

    static long? Int(JsonObject cfg, string key, string field) => cfg[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<long>(out var n) => n,
        JsonValue v when v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
        _ => throw new InvalidInputException($"{field}.{key}", "must be an integer"),
    };
}
