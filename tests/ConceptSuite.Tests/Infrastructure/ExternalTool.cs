using System.Diagnostics;

namespace ConceptSuite.Tests.Infrastructure;

/// <summary>A command-line tool (kubectl, docker-compose, bash, python3) run to completion with its output captured.</summary>
public static class ExternalTool
{
    /// <summary>
    /// Runs <paramref name="file"/> in <paramref name="cwd"/> (default: the current folder); kills
    /// it, with its children, after <paramref name="timeoutS"/> seconds. A missing tool fails with
    /// what installs it.
    /// </summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, string? cwd = null, int timeoutS = 60)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (cwd is not null) psi.WorkingDirectory = cwd;
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{file}' cannot be run ({e.Message}); scripts/prereqs.sh installs it", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutS));
            try { await p.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} ran past {timeoutS} s: {await stdout}{await stderr}");
            }
            return (p.ExitCode, await stdout, await stderr);
        }
    }

    /// <summary>As <see cref="RunAsync"/>, blocking.</summary>
    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, string? cwd = null, int timeoutS = 60) =>
        RunAsync(file, args, cwd, timeoutS).GetAwaiter().GetResult();
}
