namespace ConceptSuite.Tests.Infrastructure;

/// <summary>
/// This process's resident memory from /proc/self/status: the current RSS and the peak since the
/// last <see cref="Reset"/> (writing 5 to /proc/self/clear_refs sets the peak to the current RSS).
/// </summary>
public static class PeakRss
{
    /// <summary>Sets VmHWM to the current RSS, so <see cref="PeakBytes"/> measures from now.</summary>
    public static void Reset() => File.WriteAllText("/proc/self/clear_refs", "5");

    /// <summary>VmHWM: the peak resident set since the last reset, bytes.</summary>
    public static long PeakBytes() => Read("VmHWM:");

    /// <summary>VmRSS: the current resident set, bytes.</summary>
    public static long CurrentBytes() => Read("VmRSS:");

    static long Read(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {key}");
    }
}

/// <summary>Tests that measure this process's memory: no other test class runs beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasuredCollection
{
    public const string Name = "memory-measured";
}
