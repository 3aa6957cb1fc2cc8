using System.Diagnostics;

namespace ConceptSuite.Core.Data;

/// <summary>
/// Finds files shipped by Debian packages (data sets, vocabularies): installed under /, or
/// unpacked without root into the repository's ignored .cache/debs/{package}/ by
/// `apt-get download` + `dpkg -x` when missing. Fails with a message that says how to get it.
/// </summary>
public static class DebianPackages
{
    /// <summary>The absolute path of <paramref name="path"/> (as installed, e.g. /usr/share/...) from <paramref name="package"/>.</summary>
    public static string Locate(string package, string path, bool fetch = true)
    {
        if (File.Exists(path) || Directory.Exists(path)) return path;
        var cached = Path.Combine(CacheDir(), "debs", package) + path;
        if (File.Exists(cached) || Directory.Exists(cached)) return cached;
        if (!fetch) throw Missing(package, path);
        Fetch(package);
        if (File.Exists(cached) || Directory.Exists(cached)) return cached;
        throw Missing(package, path);
    }

    /// <summary>The repository's .cache folder (walks up to Suite.sln; else ./.cache). CONCEPTSUITE_CACHE overrides.</summary>
    public static string CacheDir()
    {
        var env = Environment.GetEnvironmentVariable("CONCEPTSUITE_CACHE");
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Suite.sln"))) return Path.Combine(d.FullName, ".cache");
        }
        return Path.GetFullPath(".cache");
    }

    static void Fetch(string package)
    {
        var dir = Path.Combine(CacheDir(), "debs");
        Directory.CreateDirectory(dir);
        Run("apt-get", $"download {package}", dir);
        var deb = Directory.GetFiles(dir, package + "_*.deb").OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault()
            ?? throw Missing(package, "(download produced no .deb)");
        var target = Path.Combine(dir, package);
        var tmp = target + ".tmp-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(tmp);
        Run("dpkg", $"-x {deb} {tmp}", dir);
        if (Directory.Exists(target)) Directory.Delete(target, true);
        Directory.Move(tmp, target);
    }

    static void Run(string file, string args, string cwd)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { WorkingDirectory = cwd, RedirectStandardError = true, RedirectStandardOutput = true })!;
            var err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {err.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not available to fetch Debian packages: {e.Message}");
        }
    }

    static FileNotFoundException Missing(string package, string path) =>
        new($"{path} not found: install the Debian package '{package}' (apt-get install {package}) or run scripts/prereqs.sh");
}
