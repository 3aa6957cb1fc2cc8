using System.Diagnostics;
using System.Text.Json;
using ConceptSuite.Embedding.Data;

namespace ConceptSuite.Benchmarks;

/// <summary>
/// The peer side of a benchmark: the reference scripts (../shared/peers beside the repository, or
/// --peers DIR) run by Debian's /usr/bin/python3 with the Debian packages they import. A benchmark
/// calls <see cref="Require"/> first: missing packages are installed with apt-get when this process
/// may (root, or sudo without a password); otherwise the benchmark stops naming them. A peer on
/// reference BLAS is no fair baseline, so libopenblas0-pthread is required wherever numpy or
/// PyTorch time anything.
/// </summary>
static class Peers
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Installs or names what is missing; false (after printing why) when the benchmark cannot run.</summary>
    public static bool Require(string benchmark, params string[] debianPackages)
    {
        var missing = debianPackages.Where(p => !Installed(p)).ToArray();
        if (missing.Length == 0) return true;
        Console.Error.WriteLine($"{benchmark}: installing its peers' Debian packages: {string.Join(' ', missing)}");
        bool root = Environment.UserName == "root";
        var install = string.Join(' ', missing);
        var command = root
            ? $"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {install}"
            : $"sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {install}";
        var (code, _, err) = Run("/bin/sh", ["-c", command], null);
        var still = missing.Where(p => !Installed(p)).ToArray();
        if (code == 0 && still.Length == 0) return true;
        Console.Error.WriteLine($"{benchmark}: cannot run without the Debian packages {string.Join(' ', still)} " +
                                $"(apt-get exited {code}: {err.Trim().Split('\n').LastOrDefault()}). Install them and run again: " +
                                $"sudo apt-get install {string.Join(' ', still)}");
        return false;
    }

    /// <summary>The peer scripts folder: --peers DIR, else ../shared/peers beside the repository root.</summary>
    public static string? Folder(string? option)
    {
        var dir = option ?? Path.GetFullPath(Path.Combine(SuiteCache.RepoRoot ?? Directory.GetCurrentDirectory(), "..", "shared", "peers"));
        if (Directory.Exists(dir)) return dir;
        Console.Error.WriteLine($"peer scripts not found at {dir}: pass --peers DIR (the folder holding sklearn_fit.py, torch_sae.py, torch_matmul.py)");
        return null;
    }

    /// <summary>
    /// Runs /usr/bin/python3 with the arguments and the BLAS/OpenMP thread count, and parses the
    /// last line of its output as JSON (every peer prints its result there).
    /// </summary>
    public static JsonElement RunJson(IEnumerable<string> arguments, int threads)
    {
        var env = new Dictionary<string, string>
        {
            ["OMP_NUM_THREADS"] = $"{threads}", ["OPENBLAS_NUM_THREADS"] = $"{threads}", ["MKL_NUM_THREADS"] = $"{threads}",
        };
        var (code, stdout, stderr) = Run(Python, arguments, env);
        if (code != 0) throw new InvalidOperationException($"python peer failed ({code}): {stderr}");
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    static bool Installed(string package)
    {
        try
        {
            var (code, stdout, _) = Run("dpkg-query", ["-W", "-f=${Status}", package], null);
            return code == 0 && stdout.Contains("install ok installed", StringComparison.Ordinal);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no dpkg: not a Debian machine; the message names the packages
        }
    }

    static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderrTask.Result);
    }
}
