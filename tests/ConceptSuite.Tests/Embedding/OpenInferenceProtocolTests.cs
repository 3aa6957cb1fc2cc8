using System.Text.Json;
using ConceptSuite.Core.Data;
using ConceptSuite.Embedding.Data;
using ConceptSuite.Tests.Infrastructure;
using TorchSharp;

namespace ConceptSuite.Tests.Embedding;

/// <summary>
/// The real server binary (<see cref="ServerProcess"/>, --stages embedding) on a free loopback
/// port, called by a Python client whose stubs Debian's python3-grpc-tools generates from
/// protos/inference/v2/grpc_service.proto.
/// </summary>
public class OpenInferenceProtocolTests
{
    [Fact]
    public async Task Python_v2_client_calls_the_running_server()
    {
        var root = SuiteCache.RepoRoot ?? throw new InvalidOperationException("no checkout above the test binary");
        using var server = await ServerProcess.StartAsync(null, "embedding", waitFor: "embedding");
        using var data = FashionMnist.Load("test", 2);
        var imagesPath = Path.Combine(Path.GetTempPath(), $"oip-images-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(imagesPath, data.Images.contiguous().bytes.ToArray());
        try
        {
            // Debian's interpreter: python3-grpc-tools installs there, not into other pythons on PATH.
            var (code, stdout, stderr) = await ExternalTool.RunAsync(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
                [Path.Combine(root, "tests", "ConceptSuite.Tests", "Embedding", "oip_client.py"), root, new Uri(server.Address).Authority, imagesPath], timeoutS: 90);
            Assert.True(code == 0, $"python client failed: {stderr}\nserver: {server.Output}");
            using var json = JsonDocument.Parse(stdout);
            var r = json.RootElement;
            Assert.True(r.GetProperty("live").GetBoolean());
            Assert.True(r.GetProperty("ready").GetBoolean());
            Assert.True(r.GetProperty("model_ready").GetBoolean());
            Assert.Equal("onnxruntime_onnx", r.GetProperty("platform").GetString());
            Assert.Equal([-1L, 512], r.GetProperty("outputs").GetProperty("pool").EnumerateArray().Select(e => e.GetInt64()).ToArray());
            Assert.Equal("req-1", r.GetProperty("id").GetString());
            var o = r.GetProperty("output");
            Assert.Equal("FP32", o.GetProperty("datatype").GetString());
            Assert.Equal([2L, 512], o.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray());
            Assert.Equal("NOT_FOUND", r.GetProperty("unknown_model").GetString());

            // Same numbers as the in-process backbone on the same pixels.
            var values = o.GetProperty("values").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            using var got = torch.tensor(values).view(2, 512);
            using var backbone = ConceptSuite.Embedding.Models.BundledModels.LoadResNet18();
            using var pixels = ConceptSuite.Embedding.Images.ImageConform.ToModelInput(data.Images, 3, 224, 224, "x");
            var expected = backbone.Forward(pixels, ["pool"])["pool"];
            Assert.True(got.allclose(expected, rtol: 1e-4, atol: 1e-4));
        }
        finally
        {
            File.Delete(imagesPath);
        }
    }
}
