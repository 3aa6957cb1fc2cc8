using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Embedding.Models;
using ConceptSuite.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

/// <summary>
/// RegisterModel: a user's TorchScript CNN made by Debian's python3-torch, and the bundled ResNet18
/// ONNX uploaded as a user model, give the activations their references give; hostile uploads are
/// refused naming the field and leave nothing behind.
/// </summary>
public class RegisterModelTests
{
    /// <summary>The Python script that writes the TorchScript CNN, its test pixels and reference activations.</summary>
    static async Task<string> MakeTorchScriptCnnAsync()
    {
        var root = SuiteCache.RepoRoot ?? throw new InvalidOperationException("no checkout above the test binary");
        var dir = Path.Combine(Path.GetTempPath(), "cs-tscnn-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var (code, stdout, stderr) = await ExternalTool.RunAsync(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
            [Path.Combine(root, "tests", "ConceptSuite.Tests", "Embedding", "torchscript_cnn.py"), dir, "0"], timeoutS: 120);
        Assert.True(code == 0, $"torchscript_cnn.py failed (Debian python3-torch, scripts/prereqs.sh): {stdout}{stderr}");
        return dir;
    }

    static torch.Tensor ReadF32(string path, params long[] shape) =>
        torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray()).reshape(shape);

    /// <summary>One RegisterModel call: the spec, then <paramref name="bytes"/> in chunks.</summary>
    public static async Task<RegisterModelResponse> RegisterAsync(GrpcChannel channel, RegisterModelSpec spec, byte[] bytes, int chunk = 1 << 20)
    {
        var client = new EmbeddingService.EmbeddingServiceClient(channel);
        using var call = client.RegisterModel();
        await call.RequestStream.WriteAsync(new RegisterModelRequest { Spec = spec });
        for (int at = 0; at < bytes.Length; at += chunk)
            await call.RequestStream.WriteAsync(new RegisterModelRequest { Chunk = ByteString.CopyFrom(bytes, at, Math.Min(chunk, bytes.Length - at)) });
        await call.RequestStream.CompleteAsync();
        return await call.ResponseAsync;
    }

    static RegisterModelSpec CnnSpec(string name = "pycnn")
    {
        var spec = new RegisterModelSpec
        {
            Name = name, Format = "torchscript", Channels = 3, Height = 32, Width = 32,
            Preprocessing = new ModelPreprocessing { ChannelOrder = "bgr", Scaling = "unit", Mean = { 0.40f, 0.45f, 0.50f }, Std = { 0.20f, 0.25f, 0.30f } },
            Taps =
            {
                new ModelTapSpec { Name = "logits", Source = "output" },
                new ModelTapSpec { Name = "pool", Source = "module:pool" },
                new ModelTapSpec { Name = "relu1", Source = "module:features.1" },
            },
        };
        return spec;
    }

    [Fact]
    public async Task TorchScript_cnn_written_by_python_registers_and_embeds_to_its_reference_activations()
    {
        var dir = await MakeTorchScriptCnnAsync();
        try
        {
            await using var server = await SuiteTestServer.StartAsync("embedding");
            var channel = server.Channel;
            var file = File.ReadAllBytes(Path.Combine(dir, "cnn.pt"));
            var spec = CnnSpec();
            spec.SizeBytes = file.Length;
            var reg = await RegisterAsync(channel, spec, file, chunk: 4096);

            // The dry run's shapes and dtypes, in spec order.
            Assert.Equal(["logits", "pool", "relu1"], reg.Taps.Select(t => t.Name));
            Assert.Equal([5L], reg.Taps[0].Shape);
            Assert.Equal([16L], reg.Taps[1].Shape);
            Assert.Equal([8L, 32, 32], reg.Taps[2].Shape);
            Assert.All(reg.Taps, t => Assert.Equal("float32", t.Dtype));
            Assert.Equal(RegisteredModels.Kind, reg.Artifact.Ref.Kind);

            // Listed, by name, with the measured shapes; the same upload again is the same artifact.
            var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
            var listed = (await client.ListModelsAsync(new ListModelsRequest { Kind = "torchscript" })).Models.Single(m => m.Name == "pycnn");
            Assert.Equal("artifact:" + reg.Artifact.Ref.Id, listed.Source);
            Assert.Equal([8L, 32, 32], listed.Taps.Single(t => t.Name == "relu1").Shape);
            Assert.Equal(reg.Artifact.Ref.Id, (await RegisterAsync(channel, spec, file)).Artifact.Ref.Id);

            // Embedded through the RPC, by name and by id: Python's activations to 1e-5.
            var pixels = torch.tensor(File.ReadAllBytes(Path.Combine(dir, "pixels.u8"))).reshape(4, 3, 32, 32);
            var byName = await EmbedClient.EmbedTensorsAsync(server.Channel, "pycnn", pixels, ["logits", "pool", "relu1"]);
            var byId = await EmbedClient.EmbedTensorsAsync(server.Channel, "model:" + reg.Artifact.Ref.Id, pixels, ["logits"]);
            var refs = new Dictionary<string, torch.Tensor>
            {
                ["logits"] = ReadF32(Path.Combine(dir, "ref_output.f32"), 4, 5),
                ["pool"] = ReadF32(Path.Combine(dir, "ref_pool.f32"), 4, 16),
                ["relu1"] = ReadF32(Path.Combine(dir, "ref_features_1.f32"), 4, 8, 32, 32),
            };
            foreach (var (tap, expected) in refs)
            {
                var diff = (byName[tap].Tensor - expected).abs().max().item<float>();
                Console.WriteLine($"registered TorchScript CNN tap {tap}: max |difference| to python3-torch {diff:E2} (scale {expected.abs().max().item<float>():F3})");
                Assert.True(diff <= 1e-5, $"tap {tap} differs from the Python reference by {diff}");
            }
            Assert.True(byId["logits"].Tensor.equal(byName["logits"].Tensor).all().item<bool>());

            // A submodule tap must name a submodule.
            var noChain = CnnSpec("pycnn-nochain");
            noChain.Taps.Clear();
            noChain.Taps.Add(new ModelTapSpec { Name = "x", Source = "module:nothere" });
            noChain.SizeBytes = file.Length;
            var e = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(channel, noChain, file));
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.StartsWith("spec.taps[0].source", e.Status.Detail);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task Bundled_resnet18_uploaded_as_a_user_model_gives_the_bundled_activations()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding");
        var channel = server.Channel;
        var model = File.ReadAllBytes(BundledModels.ResNet18Path);
        var prep = File.ReadAllBytes(BundledModels.ResNetPreprocessPath);
        var spec = new RegisterModelSpec
        {
            Name = "my-resnet18", Format = "onnx", Channels = 3, Height = 224, Width = 224, Version = "user",
            Preprocessing = new ModelPreprocessing { Scaling = "byte" },
            Taps =
            {
                new ModelTapSpec { Name = "pool", Source = "Pooling395_Output_0", Flatten = true },
                new ModelTapSpec { Name = "layer3", Source = "ReLU347_Output_0" },
            },
            SizeBytes = model.Length, PreprocessSizeBytes = prep.Length,
        };
        var reg = await RegisterAsync(channel, spec, [.. model, .. prep]);
        Assert.Equal([512L], reg.Taps[0].Shape);
        Assert.Equal([256L, 14, 14], reg.Taps[1].Shape);

        using var data = FashionMnist.Load("test", 3);
        var bundled = await EmbedClient.EmbedTensorsAsync(server.Channel, "resnet18", data.Images, ["pool", "layer3"]);
        var user = await EmbedClient.EmbedTensorsAsync(server.Channel, "my-resnet18", data.Images, ["pool", "layer3"]);
        foreach (var tap in new[] { "pool", "layer3" })
        {
            var b = bundled[tap].Tensor;
            var rel = (user[tap].Tensor - b).abs().max().item<float>() / b.abs().max().item<float>();
            Console.WriteLine($"user-registered resnet18 vs bundled, tap {tap}: max relative difference {rel:E2}");
            Assert.True(rel <= 1e-5, $"tap {tap}: {rel}");
        }

        // EmbedDataset takes the registered model by name.
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var images = new TensorBlock { Name = "images", Tensor = ConceptSuite.Core.Tensors.TensorCodec.ToMessageCopy(data.Images) };
        var labels = new TensorBlock { Name = "labels", Tensor = ConceptSuite.Core.Tensors.TensorCodec.ToMessageCopy(data.Labels) };
        var ds = await EmbedClient.ImportAsync(client, new ImportDatasetHeader { Name = "three" },
            new ImportDatasetRequest { Block = images }, new ImportDatasetRequest { Block = labels });
        var ev = await EmbedClient.DrainAsync(client.EmbedDataset(new EmbedDatasetRequest { Dataset = new ArtifactRef { Id = ds.Ref.Id }, Model = "my-resnet18", Taps = { "pool" } }));
        var acts = ev.Last().Result.Artifact;
        using var r = server.Services.GetRequiredService<ArtifactStore>().Open(acts.Ref.Id);
        Assert.True(r.Read("activations").allclose(bundled["pool"].Tensor, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public async Task Hostile_uploads_are_refused_naming_the_field_and_leave_nothing_behind()
    {
        var dir = await MakeTorchScriptCnnAsync();
        try
        {
            await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:Embedding:MaxModelBytes", (1L << 20).ToString()));
            var channel = server.Channel;
            var cnn = File.ReadAllBytes(Path.Combine(dir, "cnn.pt"));
            var mlp = File.ReadAllBytes(Path.Combine(dir, "mlp.onnx"));
            var garbage = new byte[4096];
            new Random(7).NextBytes(garbage);

            async Task Refused(RegisterModelSpec spec, byte[] bytes, StatusCode code, string field)
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => RegisterAsync(channel, spec, bytes));
                Console.WriteLine($"{code}: {e.Status.Detail}");
                Assert.Equal(code, e.StatusCode);
                Assert.StartsWith(field, e.Status.Detail);
            }
            RegisterModelSpec Spec(string format, long size, params (string Name, string Source)[] taps)
            {
                var s = new RegisterModelSpec { Name = "bad", Format = format, Channels = 3, Height = 32, Width = 32, SizeBytes = size };
                foreach (var (n, src) in taps) s.Taps.Add(new ModelTapSpec { Name = n, Source = src });
                return s;
            }

            await Refused(Spec("onnx", garbage.Length, ("y", "y")), garbage, StatusCode.InvalidArgument, "chunk");
            await Refused(Spec("torchscript", garbage.Length), garbage, StatusCode.InvalidArgument, "chunk");
            await Refused(Spec("torchscript", cnn.Length, ("x", "module:features.9")), cnn, StatusCode.InvalidArgument, "spec.taps[0].source");
            await Refused(Spec("torchscript", cnn.Length, ("x", "no_such_output")), cnn, StatusCode.InvalidArgument, "spec.taps");
            await Refused(Spec("onnx", mlp.Length, ("y", "no_such_value")), mlp, StatusCode.InvalidArgument, "spec.taps[0].source");
            // A rank-2 input is not an image model.
            await Refused(Spec("onnx", mlp.Length, ("y", "y")), mlp, StatusCode.InvalidArgument, "chunk");
            // One channel into a three-channel network: the dry run fails, naming the spec.
            var grey = Spec("torchscript", cnn.Length);
            grey.Channels = 1;
            await Refused(grey, cnn, StatusCode.InvalidArgument, "spec");
            // Declared over the cap: refused before a byte is read.
            await Refused(Spec("torchscript", 1L << 40), [], StatusCode.ResourceExhausted, "spec.size_bytes");
            // Truncated: fewer bytes than declared; and more than declared.
            await Refused(Spec("torchscript", cnn.Length), cnn[..(cnn.Length / 2)], StatusCode.InvalidArgument, "chunk");
            await Refused(Spec("torchscript", cnn.Length - 1), cnn, StatusCode.InvalidArgument, "chunk");
            await Refused(new RegisterModelSpec { Name = "../x", Format = "onnx" }, [], StatusCode.InvalidArgument, "spec.name");
            await Refused(new RegisterModelSpec { Name = "resnet18", Format = "onnx", Channels = 3, Height = 8, Width = 8, SizeBytes = 1, Taps = { new ModelTapSpec { Name = "a" } } },
                [0], StatusCode.FailedPrecondition, "spec.name");
            var badStd = Spec("torchscript", cnn.Length);
            badStd.Preprocessing = new ModelPreprocessing { Std = { 0f } };
            await Refused(badStd, cnn, StatusCode.InvalidArgument, "spec.preprocessing.std[0]");

            // Nothing stored, nothing left in the store's scratch folder; the server still registers a good model.
            var store = server.Services.GetRequiredService<ArtifactStore>();
            Assert.Empty(store.List(RegisteredModels.Kind));
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, ".tmp"), "*", SearchOption.AllDirectories));
            var good = CnnSpec();
            good.SizeBytes = cnn.Length;
            var reg = await RegisterAsync(channel, good, cnn);
            // Another model under a taken name is refused; the first stays.
            var other = CnnSpec();
            other.SizeBytes = cnn.Length;
            other.Version = "2";
            await Refused(other, cnn, StatusCode.FailedPrecondition, "spec.name");
            Assert.Equal([reg.Artifact.Ref.Id], store.List(RegisteredModels.Kind).Select(a => a.Ref.Id));
        }
        finally { Directory.Delete(dir, true); }
    }
}

/// <summary>The CLI's bring-your-own commands, run as a user runs them (embedded server over a data folder).</summary>
public class ByoCliTests
{
    static Task<(int Code, string Out, string Err)> Concept(string dataDir, params string[] args) =>
        ExternalTool.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "concept.dll"), "--data-dir", dataDir, .. args], timeoutS: 180);

    [Fact]
    public async Task Concept_models_register_and_dictionary_import_export_work_from_the_command_line()
    {
        var root = SuiteCache.RepoRoot ?? throw new InvalidOperationException("no checkout above the test binary");
        var work = Path.Combine(Path.GetTempPath(), "cs-byocli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
            var (code, o, e) = await ExternalTool.RunAsync(python, [Path.Combine(root, "tests", "ConceptSuite.Tests", "Embedding", "torchscript_cnn.py"), work, "0"], timeoutS: 120);
            Assert.True(code == 0, o + e);
            (code, o, e) = await ExternalTool.RunAsync(python, [Path.Combine(root, "tests", "ConceptSuite.Tests", "Discovery", "saelens_files.py"), work, "0"], timeoutS: 60);
            Assert.True(code == 0, o + e);
            var data = Path.Combine(work, "data");

            (code, o, e) = await Concept(data, "models", "register", Path.Combine(work, "cnn.pt"), "--name", "cli-cnn", "--input-size", "3x32x32",
                "--channel-order", "bgr", "--mean", "0.4,0.45,0.5", "--std", "0.2,0.25,0.3", "--tap", "logits=output", "--tap", "pool=module:pool");
            Assert.True(code == 0, o + e);
            Assert.Contains("registered cli-cnn (torchscript)", o);
            (code, o, e) = await Concept(data, "models", "register", Path.Combine(work, "cnn.pt"), "--name", "cli-bad", "--input-size", "32", "--tap", "x=module:nope");
            Assert.Equal(2, code);   // ExitCodes.BadInput
            Assert.Contains("spec.taps[0].source", o);

            (code, o, e) = await Concept(data, "dictionary", "import", Path.Combine(work, "topk.safetensors"), "--cfg", Path.Combine(work, "topk.cfg.json"));
            Assert.True(code == 0, o + e);
            var id = System.Text.RegularExpressions.Regex.Match(o, "[0-9a-f]{64}").Value;
            Assert.Equal(64, id.Length);
            (code, o, e) = await Concept(data, "dictionary", "export", id, Path.Combine(work, "out"));
            Assert.True(code == 0, o + e);
            // The exported weights are the imported file's tensors (the writer orders them by name).
            static List<(string, string)> Tensors(string file)
            {
                using var f = File.OpenRead(file);
                return Safetensors.ReadHeader(f).Entries.Select(x => (x.Name, string.Join(",", x.Shape))).Order().ToList();
            }
            Assert.Equal(Tensors(Path.Combine(work, "topk.safetensors")), Tensors(Path.Combine(work, "out", "sae_weights.safetensors")));
            Assert.Contains("\"k\": 3", File.ReadAllText(Path.Combine(work, "out", "cfg.json")));
        }
        finally { Directory.Delete(work, true); }
    }
}
