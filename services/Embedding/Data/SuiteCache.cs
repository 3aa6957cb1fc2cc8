using System.Diagnostics;

namespace ConceptSuite.Embedding.Data;

/// <summary>
/// The suite's ignored download cache (Core/Data's: $CONCEPTSUITE_CACHE, else the checkout's
/// .cache/) and the checkout's fetch scripts.
/// </summary>
public static class SuiteCache
{
    public static string Root => Path.GetFullPath(ConceptSuite.Core.Data.DebianPackages.CacheDir());

    /// <summary>The checkout root (the folder with Suite.sln above the binary), or null.</summary>
    public static string? RepoRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Suite.sln"))) return d.FullName;
            return null;
        }
    }

    /// <summary>Runs a fetch script of the checkout; throws with its output when it fails.</summary>
    public static void RunScript(string script)
    {
        var root = RepoRoot ?? throw new InvalidOperationException($"cannot run {script}: no checkout (Suite.sln) above {AppContext.BaseDirectory}");
        var psi = new ProcessStartInfo("bash", Path.Combine(root, "scripts", script))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root,
        };
        psi.Environment["CONCEPTSUITE_CACHE"] = Root;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {script}");
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{script} failed ({p.ExitCode}): {output}{err.Result}");
    }
}
