using System.Diagnostics;

namespace ConceptSuite.Tests.Gateway;

public sealed class PythonClientTests
{
    static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Suite.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Suite.sln not found above " + AppContext.BaseDirectory);
    }

    static async Task<(int Exit, string Output)> Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(true); throw new TimeoutException($"{file} timed out: {await o}{await e}"); }
        return (p.ExitCode, await o + await e);
    }

    [Fact]
    public async Task PythonClientStreamsTensorsStoresArtifactsAndRunsAWorkflowAgainstTheRealServer()
    {
        var root = RepoRoot();
        var work = Path.Combine(Path.GetTempPath(), "cs-python-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (exit, log) = await Run("bash", Path.Combine(root, "clients", "python", "generate.sh"), Path.Combine(work, "stubs"));
            Assert.True(exit == 0, "stub generation failed (Debian python3-grpc-tools, python3-grpcio, python3-numpy):\n" + log);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));
            (exit, log) = await Run("/usr/bin/python3", Path.Combine(root, "clients", "python", "check_client.py"), server.Address, Path.Combine(work, "stubs"));
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Log);
            Assert.Contains("echo: 3 blocks, 2400000 bytes, identical", log);
            Assert.Contains("imported 40 images, 16 concepts", log);
            Assert.Contains("python client: all checks passed", log);
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }
}
