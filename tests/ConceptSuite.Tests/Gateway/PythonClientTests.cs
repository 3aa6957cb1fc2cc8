using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// The Python client (clients/python) as a user gets it: a copy of clients/python and protos/ is
/// installed offline into a fresh virtual environment that sees Debian's python3-grpcio,
/// python3-grpc-tools and python3-numpy (pip install --no-build-isolation --no-index -e, which
/// generates the stubs), then run against the real server binary.
/// </summary>
public sealed class PythonClientTests(ITestOutputHelper output)
{
    const string ReadmeAddress = "127.0.0.1:50051";

    static async Task<(int Exit, string Output)> Run(string file, string cwd, int timeoutS, params string[] args)
    {
        var (code, stdout, stderr) = await ExternalTool.RunAsync(file, args, cwd, timeoutS);
        return (code, stdout + stderr);
    }

    /// <summary>Copies a folder, leaving out what a build or an install made (generated stubs, build output, caches).</summary>
    static void Copy(string from, string to)
    {
        static bool Generated(string rel) => rel.Split(Path.DirectorySeparatorChar) is var parts
            && (parts.Contains("__pycache__") || parts.Contains("build") || parts.Any(p => p.EndsWith(".egg-info"))
                || string.Join('/', parts).StartsWith("conceptsuite/v1"));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(from, file);
            if (Generated(rel)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, rel))!);
            File.Copy(file, Path.Combine(to, rel));
        }
    }

    /// <summary>Installs the client from a clean copy (no generated stubs, no build output) into work/venv; returns its python.</summary>
    internal static async Task<string> InstallAsync(string work)
    {
        var root = Deploy.DeployAssets.RepoRoot;
        var src = Path.Combine(work, "src");
        Copy(Path.Combine(root, "protos", "conceptsuite"), Path.Combine(src, "protos", "conceptsuite"));
        var client = Path.Combine(src, "clients", "python");
        Copy(Path.Combine(root, "clients", "python"), client);
        var venv = Path.Combine(work, "venv");
        var (exit, log) = await Run("/usr/bin/python3", work, 120, "-m", "venv", "--system-site-packages", "--without-pip", venv);
        Assert.True(exit == 0, "venv failed (Debian python3-venv):\n" + log);
        var python = Path.Combine(venv, "bin", "python");
        (exit, log) = await Run(python, work, 300, "-m", "pip", "install", "--no-build-isolation", "--no-index", "-e", client);
        Assert.True(exit == 0, "offline install failed (Debian python3-grpcio, python3-grpc-tools, python3-numpy, python3-setuptools):\n" + log);
        Assert.True(File.Exists(Path.Combine(client, "conceptsuite", "v1", "gateway_pb2_grpc.py")), "the install did not generate the stubs:\n" + log);
        return python;
    }

    internal static string Work() => Path.Combine(Path.GetTempPath(), "cs-python-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task PythonClientStreamsTensorsRunsAWorkflowFetchesItsAtlasEmbedsFitsNamesTrainsExplainsAndNamesTheFieldOfEachError()
    {
        var work = Work();
        try
        {
            var python = await InstallAsync(work);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            var (exit, log) = await Run(python, work, 300, Path.Combine(work, "src", "clients", "python", "check_client.py"), server.Address);
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            Assert.Contains("echo: 3 blocks, 2400000 bytes, identical", log);
            Assert.Contains("shared memory: 7200000 bytes through regions, same sha256 as inline", log);
            Assert.Contains("imported 40 images, 16 concepts", log);
            Assert.Contains("16 concept names", log);                 // the atlas names every ground-truth concept
            Assert.Contains("progress without tqdm: python-import", log);
            Assert.Contains("embed: 40 images -> 512 features, stream and dataset job agree", log);
            // PCA with 8 concepts on the ResNet18 features of the 40 concept-shapes images: the stage's
            // R² equals numpy's explained-variance share (checked in the script to 1e-4).
            var r2 = Regex.Match(log, @"pca 8 concepts, atoms \(8, 512\), codes \(40, 8\), r2 stage ([0-9.]+)");
            Assert.True(r2.Success, log);
            Assert.InRange(double.Parse(r2.Groups[1].Value, CultureInfo.InvariantCulture), 0.5, 0.999);
            Assert.Contains("names: 8 concepts named from 16 words", log);
            Assert.Contains("paired: scocca 4 concepts, codes (40, 4) and (40, 4), captions decoded (40, 384)", log);
            var spread = Regex.Match(log, @"gradient_input completeness spread ([0-9.e+-]+)");
            Assert.True(spread.Success, log);
            Assert.InRange(double.Parse(spread.Groups[1].Value, CultureInfo.InvariantCulture), 0, 1e-4);
            Assert.Contains("errors: INVALID_ARGUMENT config.dictionaries[0].n_concepts, ...options.k, NOT_FOUND, workflow step steps.shapes.options.limit", log);
            Assert.Contains("python client: all checks passed", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    /// <summary>The example block of clients/python/README.md (the top README carries the same block).</summary>
    static string ReadmeExample(string readme)
    {
        var text = File.ReadAllText(readme).Replace("\r\n", "\n");
        var m = Regex.Match(text, @"<!-- example: executed by tests/ConceptSuite.Tests/Gateway/PythonClientTests.cs -->\n```python\n(.*?)```", RegexOptions.Singleline);
        Assert.True(m.Success, $"{readme}: no example block after the marker comment");
        return m.Groups[1].Value;
    }

    [Fact]
    public async Task PythonClientImportsTextsFromListsAndFilesAndRefusesInvalidUtf8BeforeSending()
    {
        var work = Work();
        try
        {
            var python = await InstallAsync(work);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            var script = Path.Combine(work, "texts.py");
            File.WriteAllText(script, $$"""
                from conceptsuite import Suite, SuiteError
                suite = Suite("{{server.Address.Replace("http://", "")}}")
                a = suite.import_text(["a cat sat on the mat", "the car would not start"], labels=[0, 1], class_names=["animal", "vehicle"])
                print("list", a.ref.kind, a.metadata["class_names"])
                with open("bad.txt", "wb") as f:
                    f.write(b"fine\nf\xc3(\n")
                try:
                    suite.import_text("bad.txt")
                    print("bad accepted")
                except ValueError as e:
                    print("refused:", e)
                with open("c.jsonl", "w") as f:
                    f.write('{"text": "a dog", "label": "animal"}\n{"text": "a bus", "label": "vehicle"}\n')
                b = suite.import_text("c.jsonl")
                print("file", b.ref.kind, b.ref.id == a.ref.id, suite.arrays(b, "labels")["labels"].tolist())
                try:
                    suite.import_text(["ok", " "])
                except SuiteError as e:
                    print("error", e.status, e.field)
                """);
            var (exit, log) = await Run(python, work, 300, script);
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            Assert.Contains("list texts ['animal', 'vehicle']", log);
            Assert.Contains("refused: bad.txt:2: not valid UTF-8", log);
            Assert.Contains("file texts False [0, 1]", log);
            Assert.Contains("error INVALID_ARGUMENT texts[1].text", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task TheReadmeExampleRunsAsWrittenAndItsReconstructionMatchesTheServersR2()
    {
        var root = Deploy.DeployAssets.RepoRoot;
        var example = ReadmeExample(Path.Combine(root, "clients", "python", "README.md"));
        Assert.Equal(example, ReadmeExample(Path.Combine(root, "README.md")));
        Assert.Single(Regex.Matches(example, Regex.Escape(ReadmeAddress)));
        var work = Work();
        try
        {
            var python = await InstallAsync(work);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            var script = Path.Combine(work, "example.py");   // outside the package: only the install makes it importable
            File.WriteAllText(script, example.Replace(ReadmeAddress, server.Address.Replace("http://", "")));
            var (exit, log) = await Run(python, work, 300, script);
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            var m = Regex.Match(log, @"codes \(200, 32\) L0 (\d+) R2 ([0-9.]+) server R2 ([0-9.]+) probe accuracy ([0-9.]+)");
            Assert.True(m.Success, log);
            double At(int g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
            // TopK with k = 4: every row has exactly 4 active latents (ties at 0 aside).
            Assert.InRange(At(1), 1, 4);
            // R² of decode(encode(acts)) computed in numpy equals the R² the discovery stage reported for
            // the fit (both over all 200 rows).
            Assert.InRange(Math.Abs(At(2) - At(3)), 0, 1e-3);
            Assert.InRange(At(2), 0.6, 0.95);
            Assert.InRange(At(4), 0.6, 1.0);                         // a linear probe on the 32 codes (3 classes)
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task PythonClientCallsATlsGatewayWithItsCaBundleAndKeyAndIsRefusedWithoutTheKey()
    {
        var work = Work();
        try
        {
            var python = await InstallAsync(work);
            var certs = Security.TestCertificates.Create(Path.Combine(work, "tls"));
            using var server = ServerProcess.Launch(["--stages", "gateway",
                $"--ConceptSuite:Listen:CertificatePath={certs.CertificatePem}", $"--ConceptSuite:Listen:CertificateKeyPath={certs.KeyPem}",
                "--ConceptSuite:Security:ApiKeys:0=python-key"], dataDir: Path.Combine(work, "data"), metrics: false,
                client: new ConceptSuite.Client.SuiteChannelOptions { Tls = true, CaBundlePath = certs.CaBundle });
            await server.WaitServingAsync("gateway");
            var script = Path.Combine(work, "tls_check.py");
            File.WriteAllText(script, $$"""
                import grpc
                from conceptsuite import channel
                from conceptsuite.v1 import gateway_pb2, gateway_pb2_grpc
                address = {{Py("https" + server.Address[server.Address.IndexOf(':')..])}}
                ok = gateway_pb2_grpc.GatewayServiceStub(channel(address, api_key="python-key", tls={{Py(certs.CaBundle)}}))
                print("with key:", len(ok.DescribeWorkflows(gateway_pb2.DescribeWorkflowsRequest(), timeout=30).builtins), "builtins")
                try:
                    gateway_pb2_grpc.GatewayServiceStub(channel(address, tls={{Py(certs.CaBundle)}})).ListWorkflows(gateway_pb2.ListWorkflowsRequest(), timeout=30)
                    print("without key: OK")
                except grpc.RpcError as e:
                    print("without key:", e.code().name)
                """);
            var (exit, log) = await Run(python, work, 300, script);
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
