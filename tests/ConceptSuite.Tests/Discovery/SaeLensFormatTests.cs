using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Discovery.Abstractions;
using ConceptSuite.Discovery.Fitting;
using ConceptSuite.Discovery.Methods;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Tests.Discovery;

/// <summary>
/// SAEs in SAELens' form through ExportDictionary / ImportDictionary: a round trip keeps the
/// weights and the codes; files written by Python (numpy and a hand-written safetensors header)
/// import and encode as SAELens' encode computed in numpy; hostile files are refused.
/// </summary>
public class SaeLensFormatTests(DiscoveryServerFixture fx) : IClassFixture<DiscoveryServerFixture>
{
    static HostTensor Host(Tensor t)
    {
        var c = t.to_type(ScalarType.Float32).contiguous();
        return new HostTensor(DType.Float32, c.shape, c.bytes.ToArray(), []);
    }

    async Task<(string Cfg, byte[] File)> ExportAsync(ArtifactRef artifact)
    {
        using var call = fx.Client.ExportDictionary(new ExportDictionaryRequest { Dictionary = new DictionaryRef { Artifact = artifact }, MaxChunkBytes = 1000 });
        string cfg = "";
        var bytes = new MemoryStream();
        await foreach (var m in call.ResponseStream.ReadAllAsync())
            if (m.PartCase == ExportDictionaryResponse.PartOneofCase.CfgJson) cfg = m.CfgJson;
            else m.Chunk.WriteTo(bytes);
        return (cfg, bytes.ToArray());
    }

    async Task<ArtifactInfo> ImportAsync(string cfg, byte[] file, long? declared = null, string name = "")
    {
        using var call = fx.Client.ImportDictionary();
        await call.RequestStream.WriteAsync(new ImportDictionaryRequest { Header = new ImportDictionaryHeader { CfgJson = cfg, SizeBytes = declared ?? file.Length, Name = name } });
        for (int at = 0; at < file.Length; at += 700)
            await call.RequestStream.WriteAsync(new ImportDictionaryRequest { Chunk = ByteString.CopyFrom(file, at, Math.Min(700, file.Length - at)) });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    async Task<Tensor> EncodeAsync(ArtifactRef artifact, Tensor x)
    {
        using var enc = fx.Client.Encode();
        await enc.RequestStream.WriteAsync(new EncodeRequest { Config = new EncodeConfig { Dictionary = new DictionaryRef { Artifact = artifact } } });
        foreach (var b in Host(x).ToBlocks("", 4096)) await enc.RequestStream.WriteAsync(new EncodeRequest { Block = b });
        await enc.RequestStream.CompleteAsync();
        var codes = await TensorStreamClient.ReadAsync(enc.ResponseStream);
        return torch.tensor(codes.ToFloats()).reshape(codes.Shape);
    }

    [Theory]
    [InlineData("relu_sae", "standard")]
    [InlineData("topk_sae", "topk")]
    [InlineData("jumprelu_sae", "jumprelu")]
    [InlineData("batchtopk_sae", "jumprelu")]
    public async Task A_trained_sae_round_trips_through_saelens_files_with_the_same_weights_and_codes(string method, string architecture)
    {
        using var g = new Generator(11);
        using var data = randn([512, 16], generator: g) * 2 + 0.5;
        var options = new Dictionary<string, string> { ["epochs"] = "3", ["batch_size"] = "64" };
        if (method is "topk_sae" or "batchtopk_sae") options["k"] = "4";
        using var sae = DictionaryMethods.Create(method, 32, options);
        sae.Fit(new TensorRowSource(data), FitContext.Default(3));
        var meta = new DictionaryMeta { Name = "sae", Method = method, Concepts = 32, InputDim = 16, Options = DictionaryMethods.Parse(method, 32, options).Options.Canonical.ToDictionary() };
        var original = await DictionaryArtifacts.SaveAsync(fx.Store, [(meta, sae)], "", "", CancellationToken.None);

        var (cfg, file) = await ExportAsync(original.Ref);
        using (var doc = System.Text.Json.JsonDocument.Parse(cfg))
        {
            Assert.Equal(architecture, doc.RootElement.GetProperty("architecture").GetString());
            Assert.Equal(16, doc.RootElement.GetProperty("d_in").GetInt32());
            Assert.Equal(32, doc.RootElement.GetProperty("d_sae").GetInt32());
            Assert.True(doc.RootElement.GetProperty("apply_b_dec_to_input").GetBoolean());
            if (method == "topk_sae") Assert.Equal(4, doc.RootElement.GetProperty("k").GetInt32());
        }
        var names = Safetensors.ReadHeader(new MemoryStream(file)).Entries.ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal([16L, 32], names["W_enc"]);
        Assert.Equal([32L, 16], names["W_dec"]);
        Assert.Equal([32L], names["b_enc"]);
        Assert.Equal([16L], names["b_dec"]);
        Assert.Equal(architecture == "jumprelu", names.ContainsKey("threshold"));

        var imported = await ImportAsync(cfg, file);
        Assert.Equal("dictionary", imported.Ref.Kind);
        using (var a = fx.Store.Open(original.Ref.Id))
        using (var b = fx.Store.Open(imported.Ref.Id))
            foreach (var w in new[] { "W_enc", "b_enc", "W_dec", "b_dec" })
            {
                var importedName = $"{(architecture == "jumprelu" && method == "batchtopk_sae" ? "jumprelu_sae" : method)}_32/{w}";
                Assert.True(a.Read("sae/" + w).equal(b.Read(importedName)).all().item<bool>(), $"{w} changed in the round trip");
            }

        using var x = randn([200, 16], generator: g) * 2 + 0.5;
        var before = await EncodeAsync(original.Ref, x);
        var after = await EncodeAsync(imported.Ref, x);
        var diff = (before - after).abs().max().item<float>();
        Console.WriteLine($"{method} -> SAELens {architecture} -> import: max |code difference| {diff:E2}, L0 {(before > 0).sum(1).to_type(ScalarType.Float32).mean().item<float>():F2}");
        Assert.True(diff == 0, $"codes differ by {diff}");
        // Exported again, the imported copy gives the same file.
        if (method != "batchtopk_sae") Assert.Equal(file, (await ExportAsync(imported.Ref)).File);
    }

    [Fact]
    public async Task Saelens_files_written_by_python_import_and_encode_as_saelens_does()
    {
        var root = SuiteCache.RepoRoot ?? throw new InvalidOperationException("no checkout above the test binary");
        var dir = Path.Combine(Path.GetTempPath(), "cs-saelens-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var (code, stdout, stderr) = await ExternalTool.RunAsync(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
                [Path.Combine(root, "tests", "ConceptSuite.Tests", "Discovery", "saelens_files.py"), dir, "0"], timeoutS: 60);
            Assert.True(code == 0, $"saelens_files.py failed (Debian python3-numpy): {stdout}{stderr}");
            var x = torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(dir, "x.f32"))).ToArray()).reshape(20, 12);
            foreach (var (arch, method) in new[] { ("standard", "relu_sae"), ("topk", "topk_sae"), ("jumprelu", "jumprelu_sae") })
            {
                var info = await ImportAsync(File.ReadAllText(Path.Combine(dir, arch + ".cfg.json")), File.ReadAllBytes(Path.Combine(dir, arch + ".safetensors")), name: "py-" + arch);
                Assert.Contains($"\"method\":\"{method}\"", info.MetadataJson);
                var codes = await EncodeAsync(info.Ref, x);
                var expected = torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(dir, arch + ".codes.f32"))).ToArray()).reshape(20, 24);
                var diff = (codes - expected).abs().max().item<float>();
                var l0 = (expected > 0).sum(1).to_type(ScalarType.Float32).mean().item<float>();
                Console.WriteLine($"SAELens {arch} written by numpy: max |code difference| {diff:E2} (numpy L0 {l0:F2})");
                Assert.True(diff <= 1e-5, $"{arch}: codes differ from numpy by {diff}");
                Assert.True((codes > 0).eq(expected > 0).all().item<bool>(), $"{arch}: a different set of latents fires");
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Hostile_saelens_imports_are_refused_naming_the_field_and_store_nothing()
    {
        using var g = new Generator(5);
        const string cfg = """{"architecture": "standard", "d_in": 4, "d_sae": 8}""";
        var good = SafetensorsOf(new() { ["W_enc"] = randn([4, 8], generator: g), ["b_enc"] = zeros(8), ["W_dec"] = randn([8, 4], generator: g), ["b_dec"] = zeros(4) });
        int before = fx.Store.List(DictionaryArtifacts.Kind).Count();

        async Task Refused(string c, byte[] f, StatusCode status, string field, long? declared = null)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => ImportAsync(c, f, declared));
            Console.WriteLine($"{status}: {e.Status.Detail}");
            Assert.Equal(status, e.StatusCode);
            Assert.StartsWith(field, e.Status.Detail);
        }
        var garbage = new byte[256];
        new Random(1).NextBytes(garbage);
        await Refused(cfg, garbage, StatusCode.InvalidArgument, "chunk");
        await Refused("not json", good, StatusCode.InvalidArgument, "header.cfg_json");
        await Refused(cfg.Replace("standard", "gated"), good, StatusCode.InvalidArgument, "header.cfg_json.architecture");
        await Refused(cfg.Replace("\"d_in\": 4", "\"d_in\": 5"), good, StatusCode.InvalidArgument, "chunk");
        await Refused(cfg.Replace("standard", "topk"), good, StatusCode.InvalidArgument, "header.cfg_json.k");
        await Refused("""{"architecture": "topk", "d_in": 4, "d_sae": 8, "k": 9}""", good, StatusCode.InvalidArgument, "header.cfg_json.k");
        await Refused("""{"architecture": "standard", "d_in": 4, "d_sae": 8, "normalize_activations": "expected_average_only_in"}""", good, StatusCode.InvalidArgument, "header.cfg_json.normalize_activations");
        await Refused("""{"architecture": "standard", "d_in": 1000000, "d_sae": 16000000}""", good, StatusCode.ResourceExhausted, "header.cfg_json.d_sae");
        await Refused(cfg, good, StatusCode.ResourceExhausted, "header.size_bytes", declared: 1L << 50);
        await Refused(cfg, good[..(good.Length - 10)], StatusCode.InvalidArgument, "chunk", declared: good.Length);
        await Refused(cfg.Replace("standard", "jumprelu"), good, StatusCode.InvalidArgument, "chunk");   // no threshold tensor
        var nan = SafetensorsOf(new() { ["W_enc"] = full(4, 8, float.NaN), ["b_enc"] = zeros(8), ["W_dec"] = zeros(8, 4), ["b_dec"] = zeros(4) });
        await Refused(cfg, nan, StatusCode.InvalidArgument, "chunk");
        Assert.Equal(before, fx.Store.List(DictionaryArtifacts.Kind).Count());

        // Methods without an SAELens form are not exported.
        using var pca = DictionaryMethods.Create("pca", 2, null);
        using var rows = randn([50, 4], generator: g);
        pca.Fit(new TensorRowSource(rows), FitContext.Default());
        var stored = await DictionaryArtifacts.SaveAsync(fx.Store, [(new DictionaryMeta { Name = "p", Method = "pca", Concepts = 2, InputDim = 4 }, pca)], "", "", CancellationToken.None);
        var e = await Assert.ThrowsAsync<RpcException>(() => ExportAsync(stored.Ref));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("dictionary", e.Status.Detail);

        // Still serving: the good file imports.
        Assert.Equal("dictionary", (await ImportAsync(cfg, good)).Ref.Kind);
    }

    static byte[] SafetensorsOf(Dictionary<string, Tensor> tensors)
    {
        var (header, inOrder) = SaeLensFormat.Layout(tensors);
        var m = new MemoryStream();
        m.Write(header);
        foreach (var t in inOrder) m.Write(t.contiguous().bytes);
        return m.ToArray();
    }
}
