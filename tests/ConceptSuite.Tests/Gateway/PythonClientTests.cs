using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Gateway;

public sealed class PythonClientTests(ITestOutputHelper output)
{
    static async Task<(int Exit, string Output)> Run(string file, params string[] args)
    {
        var (code, stdout, stderr) = await ExternalTool.RunAsync(file, args, timeoutS: 150);
        return (code, stdout + stderr);
    }

    [Fact]
    public async Task PythonClientStreamsTensorsRunsAWorkflowFetchesItsAtlasEmbedsFitsADictionaryAndReadsTheConceptsBack()
    {
        var root = Deploy.DeployAssets.RepoRoot;
        var work = Path.Combine(Path.GetTempPath(), "cs-python-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (exit, log) = await Run("bash", Path.Combine(root, "clients", "python", "generate.sh"), Path.Combine(work, "stubs"));
            Assert.True(exit == 0, "stub generation failed (Debian python3-grpc-tools, python3-grpcio, python3-numpy):\n" + log);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            (exit, log) = await Run("/usr/bin/python3", Path.Combine(root, "clients", "python", "check_client.py"), server.Address, Path.Combine(work, "stubs"));
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            Assert.Contains("echo: 3 blocks, 2400000 bytes, identical", log);
            Assert.Contains("imported 40 images, 16 concepts", log);
            Assert.Contains("16 concept names", log);                 // the atlas names every ground-truth concept
            Assert.Contains("embed: 40 images -> 512 features", log);
            // PCA with 8 concepts on the ResNet18 features of the 40 concept-shapes images: the stage's
            // R² equals numpy's explained-variance share (checked in the script to 1e-4).
            var r2 = Regex.Match(log, @"pca 8 concepts, atoms \(8, 512\), codes \(40, 8\), r2 stage ([0-9.]+)");
            Assert.True(r2.Success, log);
            Assert.InRange(double.Parse(r2.Groups[1].Value, CultureInfo.InvariantCulture), 0.5, 0.999);
            Assert.Contains("python client: all checks passed", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task PythonClientCallsATlsGatewayWithItsCaBundleAndKeyAndIsRefusedWithoutTheKey()
    {
        var root = Deploy.DeployAssets.RepoRoot;
        var work = Path.Combine(Path.GetTempPath(), "cs-python-tls-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (exit, log) = await Run("bash", Path.Combine(root, "clients", "python", "generate.sh"), Path.Combine(work, "stubs"));
            Assert.True(exit == 0, "stub generation failed:\n" + log);
            var certs = Security.TestCertificates.Create(Path.Combine(work, "tls"));
            using var server = ServerProcess.Launch(["--stages", "gateway",
                $"--ConceptSuite:Listen:CertificatePath={certs.CertificatePem}", $"--ConceptSuite:Listen:CertificateKeyPath={certs.KeyPem}",
                "--ConceptSuite:Security:ApiKeys:0=python-key"], dataDir: Path.Combine(work, "data"), metrics: false,
                client: new ConceptSuite.Client.SuiteChannelOptions { Tls = true, CaBundlePath = certs.CaBundle });
            await server.WaitServingAsync("gateway");
            var script = Path.Combine(work, "tls_check.py");
            File.WriteAllText(script, $$"""
                import sys
                sys.path.insert(0, {{Py(Path.Combine(root, "clients", "python"))}})
                import grpc, conceptsuite_client as cs
                cs.load_stubs({{Py(Path.Combine(work, "stubs"))}})
                from conceptsuite.v1 import gateway_pb2, gateway_pb2_grpc
                address = {{Py("https" + server.Address[server.Address.IndexOf(':')..])}}
                ok = gateway_pb2_grpc.GatewayServiceStub(cs.channel(address, api_key="python-key", root_certificates={{Py(certs.CaBundle)}}))
                print("with key:", len(ok.DescribeWorkflows(gateway_pb2.DescribeWorkflowsRequest(), timeout=30).builtins), "builtins")
                try:
                    gateway_pb2_grpc.GatewayServiceStub(cs.channel(address, root_certificates={{Py(certs.CaBundle)}})).ListWorkflows(gateway_pb2.ListWorkflowsRequest(), timeout=30)
                    print("without key: OK")
                except grpc.RpcError as e:
                    print("without key:", e.code().name)
                """);
            (exit, log) = await Run("/usr/bin/python3", script);
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            Assert.Matches(@"with key: [1-9][0-9]* builtins", log);
            Assert.Contains("without key: UNAUTHENTICATED", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    static string Py(string s) => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'";
}
