using System.Security.Cryptography;
using System.Text;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Security;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Transport;

/// <summary>Limits of the shared-memory data plane (section ConceptSuite:SharedMemory).</summary>
public sealed class SharedMemoryOptions
{
    public const string Section = "ConceptSuite:SharedMemory";

    /// <summary>Off: CreateRegion answers UNIMPLEMENTED and callers send bytes inline.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Folder of the region files; a tmpfs both peers see (/dev/shm).</summary>
    public string Directory { get; set; } = "/dev/shm";
    /// <summary>Bytes of all live regions of this process together; 0: 1/8 of memory, within [64 MiB, 4 GiB].</summary>
    public long MaxBytes { get; set; }
    /// <summary>
    /// A request's shared blocks are read where they lie, without a copy, and their regions stay
    /// mapped until the call ends (the caller must not change a slice until then). Off: every
    /// block is first copied out of the region, as an inline block arrives.
    /// </summary>
    public bool ReadInPlace { get; set; } = true;
    /// <summary>Largest single region.</summary>
    public long MaxRegionBytes { get; set; } = 1L << 30;
    /// <summary>Live regions per caller key.</summary>
    public int MaxRegionsPerOwner { get; set; } = 64;
    /// <summary>Lease of a region created or renewed without one.</summary>
    public int DefaultLeaseSeconds { get; set; } = 60;
    /// <summary>Longest lease a caller may ask for.</summary>
    public int MaxLeaseSeconds { get; set; } = 3600;
    /// <summary>How often expired regions, and the files of crashed processes, are removed.</summary>
    public double SweepSeconds { get; set; } = 5;

    public long EffectiveMaxBytes => MaxBytes > 0 ? MaxBytes
        : Math.Clamp(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8, 64L << 20, 4L << 30);
}

/// <summary>
/// The regions this process has created for its callers. A region is a file
/// "conceptsuite-shm-{pid}-{128 random bits}" in <see cref="SharedMemoryOptions.Directory"/>, owned
/// by the digest of the API key that created it: another key's calls cannot read, renew or release
/// it (they are told it does not exist). A region dies when released or when its lease runs out
/// unrenewed (a crashed caller's regions go that way); a reader holding it keeps the mapping until
/// it is done. Files of processes that no longer run (a crashed server) are deleted by the sweep of
/// any suite process on the host.
/// </summary>
public sealed class SharedRegions : IDisposable
{
    const string Prefix = "conceptsuite-shm-";

    readonly SharedMemoryOptions _options;
    readonly ILogger _log;
    readonly Dictionary<string, Region> _regions = new(StringComparer.Ordinal);
    readonly Lock _lock = new();
    readonly Timer _sweeper;
    readonly TimeProvider _time;
    long _liveBytes;

    sealed class Region(string name, string owner, SharedRegionFile file)
    {
        public string Name { get; } = name;
        public string Owner { get; } = owner;
        public SharedRegionFile File { get; } = file;
        public DateTimeOffset Expires;
        public int Readers;
        public bool Dead;
    }

    public SharedRegions(IOptions<SharedMemoryOptions> options, ILogger<SharedRegions> log, TimeProvider? time = null)
    {
        _options = options.Value;
        _log = log;
        _time = time ?? TimeProvider.System;
        var period = TimeSpan.FromSeconds(Math.Max(0.05, _options.SweepSeconds));
        _sweeper = new Timer(_ => Sweep(), null, TimeSpan.Zero, period);
    }

    public SharedMemoryOptions Options => _options;

    /// <summary>Bytes held by live regions.</summary>
    public long LiveBytes { get { lock (_lock) return _liveBytes; } }

    /// <summary>Number of live regions.</summary>
    public int Count { get { lock (_lock) return _regions.Count; } }

    /// <summary>The owner of a call's regions: a digest of the key it presented ("" without one).</summary>
    public static string OwnerOf(ServerCallContext context)
    {
        var key = ApiKeys.Presented(context.RequestHeaders.GetValue(ApiKeys.Header), context.RequestHeaders.GetValue("authorization"));
        return string.IsNullOrEmpty(key) ? "" : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("conceptsuite-shm\0" + key)));
    }

    public SharedRegion Create(string owner, long bytes, int leaseSeconds)
    {
        if (!_options.Enabled) throw new RpcException(new Status(StatusCode.Unimplemented, "shared memory is turned off on this server"));
        if (bytes < 1 || bytes > _options.MaxRegionBytes)
            throw new InvalidInputException("bytes", $"must be in [1, {_options.MaxRegionBytes}] (ConceptSuite:SharedMemory:MaxRegionBytes)");
        var lease = Lease(leaseSeconds, "lease_seconds");
        var name = Prefix + Environment.ProcessId + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var path = Path.Combine(_options.Directory, name);
        lock (_lock)
        {
            long max = _options.EffectiveMaxBytes;
            if (_liveBytes + bytes > max)
                throw new ResourceExhaustedException($"shared memory: {bytes} more bytes would pass this process's limit of {max} ({_liveBytes} in use; ConceptSuite:SharedMemory:MaxBytes)");
            if (_regions.Values.Count(r => r.Owner == owner) >= _options.MaxRegionsPerOwner)
                throw new ResourceExhaustedException($"shared memory: this key holds {_options.MaxRegionsPerOwner} regions already (ConceptSuite:SharedMemory:MaxRegionsPerOwner)");
            _liveBytes += bytes; // reserved before the file exists, so concurrent creations cannot pass the limit together
        }
        SharedRegionFile file;
        try
        {
            System.IO.Directory.CreateDirectory(_options.Directory);
            file = SharedRegionFile.Create(path, bytes);
        }
        catch (IOException e)
        {
            lock (_lock) _liveBytes -= bytes;
            throw new ResourceExhaustedException($"shared memory: cannot create a {bytes}-byte region in {_options.Directory}: {e.Message}");
        }
        var region = new Region(name, owner, file) { Expires = _time.GetUtcNow() + lease };
        lock (_lock) _regions[name] = region;
        return Info(region);
    }

    public SharedRegion Renew(string owner, string name, int leaseSeconds)
    {
        var lease = Lease(leaseSeconds, "lease_seconds");
        lock (_lock)
        {
            var r = Find(owner, name);
            r.Expires = _time.GetUtcNow() + lease;
            return Info(r);
        }
    }

    public SharedRegion Release(string owner, string name)
    {
        Region r;
        lock (_lock)
        {
            r = Find(owner, name);
            Kill(r);
        }
        return Info(r);
    }

    /// <summary>
    /// Copies a slice of one of the caller's regions into a new array (the caller's pages can
    /// change after the copy without changing what was validated).
    /// </summary>
    public byte[] Read(string owner, SharedSlice slice, long maxLength, string field)
    {
        var r = HoldSlice(owner, slice, maxLength, field);
        try
        {
            var bytes = GC.AllocateUninitializedArray<byte>(checked((int)slice.Length));
            r.File.Read(slice.Offset, bytes);
            return bytes;
        }
        finally { Unhold(r); }
    }

    /// <summary>
    /// A slice of one of the caller's regions in place (no copy). The region stays mapped, even
    /// when released or expired meanwhile, until <paramref name="holds"/> is disposed.
    /// </summary>
    public ReadOnlyMemory<byte> Borrow(string owner, SharedSlice slice, long maxLength, string field, SliceHolds holds)
    {
        var r = HoldSlice(owner, slice, maxLength, field);
        try
        {
            var memory = r.File.Slice(slice.Offset, (int)slice.Length);
            holds.Add(() => Unhold(r));
            return memory;
        }
        catch
        {
            Unhold(r);
            throw;
        }
    }

    Region HoldSlice(string owner, SharedSlice slice, long maxLength, string field)
    {
        if (slice.Offset < 0 || slice.Length < 0)
            throw new InvalidInputException(field, "offset and length must be >= 0");
        if (slice.Length > maxLength)
            throw new InvalidInputException(field + ".length", $"{slice.Length} bytes; a block is at most {maxLength} bytes (the largest message), shared or not");
        return Hold(owner, slice.Region, field + ".region", r =>
        {
            if (slice.Offset > r.File.Bytes - slice.Length)
                throw new InvalidInputException(field, $"[{slice.Offset}, {slice.Offset + slice.Length}) is outside the region's {r.File.Bytes} bytes");
        });
    }

    /// <summary>Copies <paramref name="data"/> into one of the owner's regions (a reply for the caller to read).</summary>
    public void Write(string owner, string name, long offset, ReadOnlySpan<byte> data)
    {
        var r = Hold(owner, name, "region");
        try { r.File.Write(offset, data); }
        finally { Unhold(r); }
    }

    // A region in use by a copy stays mapped (a concurrent release or expiry closes it after).
    Region Hold(string owner, string name, string field, Action<Region>? check = null)
    {
        lock (_lock)
        {
            var r = Find(owner, name, field);
            check?.Invoke(r);
            r.Readers++;
            return r;
        }
    }

    void Unhold(Region r)
    {
        lock (_lock)
        {
            r.Readers--;
            if (r.Dead && r.Readers == 0) Close(r);
        }
    }

    TimeSpan Lease(int seconds, string field)
    {
        if (seconds < 0 || seconds > _options.MaxLeaseSeconds)
            throw new InvalidInputException(field, $"must be in [0, {_options.MaxLeaseSeconds}] (0: {_options.DefaultLeaseSeconds})");
        return TimeSpan.FromSeconds(seconds == 0 ? _options.DefaultLeaseSeconds : seconds);
    }

    // Another key's region answers as a missing one: a stolen name tells the thief nothing.
    Region Find(string owner, string name, string field = "region")
    {
        if (_regions.TryGetValue(name, out var r) && !r.Dead && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(r.Owner), Encoding.ASCII.GetBytes(owner)))
            return r;
        throw new NotFoundException($"shared-memory region ({field}) for this key", name);
    }

    SharedRegion Info(Region r) => new()
    {
        Region = r.Name, Path = r.File.Path, Bytes = r.File.Bytes, BootId = SharedRegionFile.BootId ?? "",
        ExpiresUnixMs = r.Expires.ToUnixTimeMilliseconds(),
    };

    // Under _lock.
    void Kill(Region r)
    {
        if (r.Dead) return;
        r.Dead = true;
        _regions.Remove(r.Name);
        _liveBytes -= r.File.Bytes;
        if (r.Readers == 0) Close(r);
    }

    void Close(Region r)
    {
        r.File.Dispose();
        try { File.Delete(r.File.Path); } catch (IOException e) { _log.LogWarning("shared memory: cannot delete {Path}: {Error}", r.File.Path, e.Message); }
    }

    /// <summary>Removes expired regions and the region files of processes that no longer run.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            foreach (var r in _regions.Values.Where(r => r.Expires <= now).ToList())
            {
                _log.LogInformation("shared memory: region {Region} ({Bytes} bytes) expired unreleased", r.Name, r.File.Bytes);
                Kill(r);
            }
        }
        ReclaimOrphans();
    }

    void ReclaimOrphans()
    {
        string[] files;
        try { files = System.IO.Directory.GetFiles(_options.Directory, Prefix + "*"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var f in files)
        {
            var rest = Path.GetFileName(f)[Prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out var pid) || pid == Environment.ProcessId) continue;
            if (Alive(pid)) continue;
            try
            {
                File.Delete(f);
                _log.LogInformation("shared memory: deleted {File}, left by process {Pid} that no longer runs", f, pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    static bool Alive(int pid) => OperatingSystem.IsLinux() ? System.IO.Directory.Exists($"/proc/{pid}") : true;

    public void Dispose()
    {
        _sweeper.Dispose();
        lock (_lock)
        {
            foreach (var r in _regions.Values.ToList()) Kill(r);
        }
    }
}

/// <summary>The regions one call reads in place (<see cref="SharedRegions.Borrow"/>); disposing lets them go.</summary>
public sealed class SliceHolds : IDisposable
{
    readonly List<Action> _release = [];
    bool _disposed;

    internal void Add(Action release)
    {
        lock (_release)
        {
            if (!_disposed) { _release.Add(release); return; }
        }
        release();
    }

    public void Dispose()
    {
        Action[] all;
        lock (_release)
        {
            if (_disposed) return;
            _disposed = true;
            all = _release.ToArray();
            _release.Clear();
        }
        foreach (var a in all) a();
    }
}
