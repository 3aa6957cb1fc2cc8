using ConceptSuite.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// The installed Python client's bring-your-own calls against the real server binary:
/// register_model (a TorchScript CNN written by python3-torch; its activations equal Python's to
/// 1e-5), import_sae (SAELens files written with numpy; codes equal numpy's to 1e-5), export_sae
/// and import again (same codes), and an error carrying its status and field.
/// </summary>
public sealed class PythonByoClientTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Register_model_and_saelens_import_export_from_python()
    {
        var root = Deploy.DeployAssets.RepoRoot;
        var work = PythonClientTests.Work();
        try
        {
            var python = await PythonClientTests.InstallAsync(work);
            string ts = Path.Combine(work, "ts"), sl = Path.Combine(work, "sl");
            Directory.CreateDirectory(ts);
            Directory.CreateDirectory(sl);
            foreach (var (script, dir) in new[] { ("Embedding/torchscript_cnn.py", ts), ("Discovery/saelens_files.py", sl) })
            {
                var (code, o, e) = await ExternalTool.RunAsync(python, [Path.Combine(root, "tests", "ConceptSuite.Tests", script), dir, "0"], work, 120);
                Assert.True(code == 0, o + e);
            }
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            var (exit, stdout, stderr) = await ExternalTool.RunAsync(python,
                [Path.Combine(root, "tests", "ConceptSuite.Tests", "Gateway", "byo_client.py"), server.Address.Replace("http://", ""), ts, sl, Path.Combine(work, "exported")], work, 300);
            var log = stdout + stderr;
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            Assert.Contains("register error: INVALID_ARGUMENT spec.taps[0].source", log);
            Assert.Contains("byo client: all checks passed", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }
}
