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
}
