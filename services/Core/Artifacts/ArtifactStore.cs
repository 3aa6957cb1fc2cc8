using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// Artifacts on the filesystem under a data directory: artifacts/{id}/tensors.safetensors plus
/// artifacts/{id}/meta.json. Writes go to artifacts/.tmp/{process}/{random}/, are flushed to the disk
/// (each file and the folder) and renamed into place in one step, and the parent folder is
/// flushed after the rename, so a failed, cancelled or crashed write leaves nothing behind and a
/// committed one survives a power cut. Ids are content-derived (see <see cref="ArtifactWriter"/>);
/// storing the same content twice yields the same id and one copy. An artifact whose meta.json
/// is unreadable, or whose tensors file is shorter or longer than meta.json says, is moved to
/// artifacts/.quarantine/ with a logged warning when it is next read: it is then absent (NOT_FOUND,
/// left out of <see cref="List"/>), and committing the same content again stores it anew.
/// Each store instance (one per process) writes under a temporary folder of its own, so starting a
/// process never touches another's uploads; folders left by crashed processes are swept once
/// untouched for <see cref="StoreOptions.TemporaryMaxAgeHours"/>. Writes beyond the quota or the
/// free-space floor (<see cref="StoreOptions"/>) are RESOURCE_EXHAUSTED, as is a full disk, and
/// leave nothing behind. Pinned artifacts (artifacts/.pins/{id}) are never deleted or collected.
/// </summary>
public sealed class ArtifactStore
{
    const string QuarantineFolder = ".quarantine";
    const string PinFolder = ".pins";
    readonly string _root;
    readonly string _tmpRoot;
    readonly string _tmp;
    readonly ILogger _logger;
    readonly StoreOptions _options;
    long _committed = -1;   // bytes of the committed artifacts; < 0: not counted yet
    long _inFlight;         // bytes written by uploads not yet committed
    long _countedAt;        // Environment.TickCount64 of the last count

    public ArtifactStore(string dataDir, ILogger? logger = null, StoreOptions? options = null)
    {
        _root = Path.GetFullPath(Path.Combine(dataDir, "artifacts"));
        _tmpRoot = Path.Combine(_root, ".tmp");
        _tmp = Path.Combine(_tmpRoot, $"p{Environment.ProcessId}-{Guid.NewGuid():N}");
        _logger = logger ?? NullLogger.Instance;
        _options = options ?? new StoreOptions();
        Directory.CreateDirectory(_tmp);
        SweepTemporary();
    }

    public string Root => _root;

    /// <summary>This store's own temporary folder (artifacts/.tmp/p{pid}-{random}).</summary>
    public string TemporaryFolder => _tmp;

    public StoreOptions Options => _options;

    /// <summary>
    /// Removes the temporary folders of other store instances (crashed processes) whose newest
    /// entry is older than <see cref="StoreOptions.TemporaryMaxAgeHours"/>; a live upload writes
    /// continuously and is left alone. Returns how many were removed.
    /// </summary>
    public int SweepTemporary()
    {
        var cutoff = DateTime.UtcNow - TimeSpan.FromHours(Math.Max(0, _options.TemporaryMaxAgeHours));
        int swept = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(_tmpRoot))
        {
            if (Path.GetFullPath(entry) == _tmp) continue;
            try
            {
                if (NewestWrite(entry) >= cutoff) continue;
                if (Directory.Exists(entry)) Directory.Delete(entry, true); else File.Delete(entry);
                swept++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        if (swept > 0) _logger.LogInformation("Swept {Count} stale temporary upload folders under {Root}", swept, _tmpRoot);
        return swept;
    }

    static DateTime NewestWrite(string entry)
    {
        if (!Directory.Exists(entry)) return File.GetLastWriteTimeUtc(entry);
        var newest = Directory.GetLastWriteTimeUtc(entry);
        foreach (var e in Directory.EnumerateFileSystemEntries(entry, "*", SearchOption.AllDirectories))
        {
            var t = File.GetLastWriteTimeUtc(e);
            if (t > newest) newest = t;
        }
        return newest;
    }

    /// <summary>
    /// Bytes the committed artifacts take on disk: counted on first use, kept up to date by this
    /// store's commits and deletes, and counted again every 30 s so that the artifacts other
    /// processes commit to a shared data directory are seen too.
    /// </summary>
    public long UsedBytes
    {
        get
        {
            long now = Environment.TickCount64;
            if (now - Volatile.Read(ref _countedAt) > 30_000) Volatile.Write(ref _committed, -1);
            var v = Volatile.Read(ref _committed);
            if (v >= 0) return v;
            Volatile.Write(ref _countedAt, now);
            long sum = 0;
            foreach (var d in Directory.EnumerateDirectories(_root))
                if (ArtifactId.IsValid(Path.GetFileName(d)))
                    try { sum += Directory.EnumerateFiles(d).Sum(f => new FileInfo(f).Length); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            Interlocked.CompareExchange(ref _committed, sum, -1);
            return Volatile.Read(ref _committed);
        }
    }

    /// <summary>Free bytes of the file system that holds the store.</summary>
    public long FreeBytes => new DriveInfo(_root).AvailableFreeSpace;

    /// <summary>
    /// Accounts <paramref name="bytes"/> about to be written by an upload: RESOURCE_EXHAUSTED when
    /// they would take the store past its quota or the disk below its free-space floor.
    /// </summary>
    internal void Reserve(long bytes)
    {
        long inFlight = Interlocked.Add(ref _inFlight, bytes);
        try
        {
            if (_options.QuotaBytes > 0 && UsedBytes + inFlight > _options.QuotaBytes)
                throw new ResourceExhaustedException(
                    $"artifact store quota: {UsedBytes} bytes stored and {inFlight - bytes} being written of {_options.QuotaBytes}; " +
                    $"{bytes} more do not fit (delete artifacts or run CollectGarbage)");
            CheckFree(bytes);
        }
        catch
        {
            Interlocked.Add(ref _inFlight, -bytes);
            throw;
        }
    }

    internal void Release(long bytes) => Interlocked.Add(ref _inFlight, -bytes);

    /// <summary>RESOURCE_EXHAUSTED when writing <paramref name="bytes"/> would leave less than the free-space floor.</summary>
    internal void CheckFree(long bytes)
    {
        if (_options.MinFreeBytes <= 0) return;
        long free = FreeBytes;
        if (free - bytes < _options.MinFreeBytes)
            throw new ResourceExhaustedException(
                $"artifact store: {free} bytes free on its disk; writing {bytes} more would go below the floor of {_options.MinFreeBytes}");
    }

    /// <summary>A full disk (ENOSPC, or ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL) as RESOURCE_EXHAUSTED.</summary>
    internal static Exception DiskFull(IOException e) =>
        e.HResult is 28 or 112 or 39 || (e.HResult & 0xFFFF) is 112 or 39 || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
            ? new ResourceExhaustedException($"artifact store: the disk is full ({e.Message})")
            : e;

    string PinFile(string id) => Path.Combine(_root, PinFolder, ArtifactId.Check(id));

    /// <summary>True when the artifact is pinned: never deleted by <see cref="Delete"/> nor collected.</summary>
    public bool IsPinned(string id) => File.Exists(PinFile(id));

    /// <summary>Pins or unpins a stored artifact (NOT_FOUND when absent); returns its info.</summary>
    public ArtifactInfo Pin(string id, bool pinned, string field = "id")
    {
        var info = GetInfo(id, field);
        var file = PinFile(id);
        if (pinned)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            DurableFiles.WriteAllText(file, id);
        }
        else if (File.Exists(file))
        {
            File.Delete(file);
            DurableFiles.SyncDirectory(Path.GetDirectoryName(file)!);
        }
        info.Pinned = pinned;
        return info;
    }

    /// <summary>
    /// Deletes every artifact that nothing keeps: kept are <paramref name="roots"/> (the outputs and
    /// inputs of the workflows), pinned artifacts, artifacts younger than <paramref name="minAge"/>,
    /// and, transitively, every artifact a kept one references (any stored id in its metadata or
    /// labels: its inputs). Stale temporary folders are swept too. A dry run deletes nothing and
    /// reports what it would.
    /// </summary>
    public GarbageReport CollectGarbage(IEnumerable<string> roots, TimeSpan minAge, bool dryRun)
    {
        var all = List().ToDictionary(a => a.Ref.Id);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>();
        void Mark(string id) { if (all.ContainsKey(id) && keep.Add(id)) queue.Enqueue(id); }
        foreach (var r in roots) Mark(r);
        var cutoff = DateTime.UtcNow - minAge;
        foreach (var a in all.Values)
            if (a.Pinned || a.Created is null || a.Created.ToDateTime() > cutoff) Mark(a.Ref.Id);
        while (queue.TryDequeue(out var id))
            foreach (var r in References(all[id])) Mark(r);
        var deleted = new List<string>();
        long freed = 0;
        foreach (var a in all.Values.Where(a => !keep.Contains(a.Ref.Id)).OrderBy(a => a.Ref.Id, StringComparer.Ordinal))
            if (dryRun || Delete(a.Ref.Id)) { deleted.Add(a.Ref.Id); freed += a.SizeBytes; }
        int swept = dryRun ? 0 : SweepTemporary();
        if (!dryRun && deleted.Count > 0) _logger.LogInformation("Collected {Count} unreferenced artifacts ({Bytes} bytes)", deleted.Count, freed);
        return new GarbageReport(deleted, freed, keep.Count, swept);
    }

    static readonly System.Text.RegularExpressions.Regex IdPattern = new("(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", System.Text.RegularExpressions.RegexOptions.Compiled);

    /// <summary>Every artifact id mentioned in <paramref name="text"/> (64 lowercase hex characters).</summary>
    public static IEnumerable<string> IdsIn(string text) => IdPattern.Matches(text).Select(m => m.Value);

    /// <summary>The ids an artifact references: its inputs, named in its metadata or labels.</summary>
    public static IEnumerable<string> References(ArtifactInfo info) =>
        IdsIn(info.MetadataJson).Concat(info.Labels.Values.SelectMany(IdsIn));

    /// <summary>Where unreadable artifacts are moved (artifacts/.quarantine/{id}.{random}).</summary>
    public string QuarantineRoot => Path.Combine(_root, QuarantineFolder);

    /// <summary>Starts a streamed write; dispose without <see cref="ArtifactWriter.CommitAsync"/> to abort.</summary>
    public ArtifactWriter BeginWrite(string kind)
    {
        if (string.IsNullOrWhiteSpace(kind)) throw new InvalidInputException("kind", "is required");
        var dir = Path.Combine(_tmp, Guid.NewGuid().ToString("N"));
        // Recreated if something removed it (a sweep by a process whose clock runs ahead).
        try { Directory.CreateDirectory(dir); }
        catch (IOException e) { throw DiskFull(e); }
        return new ArtifactWriter(this, kind, dir);
    }

    /// <summary>
    /// Stores in-memory tensors as one artifact. <paramref name="runJson"/> is the unhashed run
    /// record (timings): see <see cref="ArtifactWriter.RunJson"/>.
    /// </summary>
    public async Task<ArtifactInfo> PutAsync(string kind, IReadOnlyDictionary<string, torch.Tensor> tensors,
        string metadataJson = "{}", IReadOnlyDictionary<string, string>? labels = null, CancellationToken ct = default, string runJson = "")
    {
        using var w = BeginWrite(kind);
        w.MetadataJson = metadataJson;
        w.RunJson = runJson;
        if (labels is not null) foreach (var (k, v) in labels) w.Labels[k] = v;
        foreach (var (name, t) in tensors) w.AddTensor(name, t);
        return await w.CommitAsync(ct);
    }

    string Dir(string id) => Path.Combine(_root, ArtifactId.Check(id));

    /// <summary>True when the artifact is stored and readable (an unreadable one is quarantined).</summary>
    public bool Exists(string id) => TryRead(ArtifactId.Check(id)) is not null;

    /// <summary>The artifact's info; NOT_FOUND when absent (or quarantined just now).</summary>
    public ArtifactInfo GetInfo(string id, string field = "id")
    {
        ArtifactId.Check(id, field);
        return TryRead(id) ?? throw new NotFoundException("artifact", id);
    }

    /// <summary>Every readable artifact (of <paramref name="kind"/>); unreadable ones are quarantined, never thrown.</summary>
    public IEnumerable<ArtifactInfo> List(string? kind = null)
    {
        foreach (var d in Directory.EnumerateDirectories(_root))
        {
            var name = Path.GetFileName(d);
            if (!ArtifactId.IsValid(name)) continue;
            if (TryRead(name) is { } info && (string.IsNullOrEmpty(kind) || info.Ref.Kind == kind)) yield return info;
        }
    }

    /// <summary>
    /// Reads artifacts/{id}/meta.json. Null when the artifact is absent; when the folder exists but
    /// meta.json is missing, unparsable, names another id, or the tensors file's length differs
    /// from its size_bytes (a torn write), the folder is quarantined and null returned.
    /// </summary>
    ArtifactInfo? TryRead(string id)
    {
        var dir = Path.Combine(_root, id);
        if (!Directory.Exists(dir)) return null;
        var meta = Path.Combine(dir, "meta.json");
        string why;
        try
        {
            var info = ArtifactInfo.Parser.ParseJson(File.ReadAllText(meta));
            var tensors = new FileInfo(Path.Combine(dir, "tensors.safetensors"));
            if (info.Ref?.Id != id) why = $"meta.json names artifact '{info.Ref?.Id}'";
            else if (!tensors.Exists) why = "tensors.safetensors is missing";
            else if (tensors.Length != info.SizeBytes) why = $"tensors.safetensors holds {tensors.Length} bytes, meta.json says {info.SizeBytes}";
            else
            {
                info.Pinned = IsPinned(id);
                return info;
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Deleted meanwhile (Delete renames the folder away first): absent, not corrupt.
            if (!Directory.Exists(dir)) return null;
            why = "meta.json is missing";
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException or InvalidOperationException or DecoderFallbackException)
        {
            // InvalidJsonException and InvalidProtocolBufferException are IOExceptions.
            why = $"meta.json is unreadable ({e.GetType().Name}: {e.Message})";
        }
        Quarantine(dir, id, why);
        return null;
    }

    void Quarantine(string dir, string id, string why)
    {
        var target = Path.Combine(QuarantineRoot, id + "." + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(QuarantineRoot);
            Directory.Move(dir, target);
            DurableFiles.SyncDirectory(_root);
            Volatile.Write(ref _committed, -1);
            _logger.LogWarning("Artifact {Id} is corrupt ({Why}); moved to {Target}", id, why, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another reader quarantined (or a writer replaced) it first.
            if (Directory.Exists(dir)) _logger.LogWarning(e, "Artifact {Id} is corrupt ({Why}) and could not be moved aside", id, why);
        }
    }

    /// <summary>
    /// Removes an artifact (renamed away first, so readers never see half of it). False when it is
    /// absent or pinned (a pinned artifact stays until unpinned).
    /// </summary>
    public bool Delete(string id)
    {
        var dir = Dir(id);
        if (!Directory.Exists(dir) || IsPinned(id)) return false;
        var trash = Path.Combine(_tmp, "del-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_tmp);
        Directory.Move(dir, trash);
        DurableFiles.SyncDirectory(_root);
        Volatile.Write(ref _committed, -1);
        Directory.Delete(trash, true);
        return true;
    }

    /// <summary>Opens an artifact for reading; NOT_FOUND when absent.</summary>
    public ArtifactReader Open(string id, string field = "id")
    {
        var info = GetInfo(id, field);
        return new ArtifactReader(info, Path.Combine(Dir(id), "tensors.safetensors"));
    }

    internal ArtifactInfo Commit(string tmpDir, string id, ArtifactInfo info)
    {
        var final = Path.Combine(_root, id);
        // A readable copy wins; an unreadable one is quarantined by TryRead and replaced below.
        if (TryRead(id) is { } existing)
        {
            Directory.Delete(tmpDir, true);
            return existing;
        }
        try
        {
            var meta = Encoding.UTF8.GetBytes(JsonFormatter.Format(info));
            CheckFree(meta.Length);
            DurableFiles.WriteNew(Path.Combine(tmpDir, "meta.json"), meta);
            DurableFiles.SyncDirectory(tmpDir);
            FaultPoints.Reach("artifact.commit", info.Ref.Kind);
            bool moved = true;
            try { Directory.Move(tmpDir, final); }
            catch (IOException) when (Directory.Exists(final))
            {
                // A concurrent writer of the same content won the rename; the content is identical.
                Directory.Delete(tmpDir, true);
                moved = false;
            }
            DurableFiles.SyncDirectory(_root);
            if (moved && Volatile.Read(ref _committed) >= 0) Interlocked.Add(ref _committed, info.SizeBytes + meta.Length);
        }
        catch (Exception e)
        {
            // Nothing half-written stays: the temporary folder goes with the failure.
            try { if (Directory.Exists(tmpDir)) Directory.Delete(tmpDir, true); } catch (IOException) { }
            if (e is IOException io) throw DiskFull(io);
            throw;
        }
        return GetInfo(id);
    }

    static readonly Google.Protobuf.JsonFormatter JsonFormatter = new(Google.Protobuf.JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
}

/// <summary>
/// Builds one artifact from streamed rows or whole tensors. The id is the sha256 over the kind,
/// the metadata JSON and, per tensor in name order, its name, dtype, shape and the sha256 of its
/// bytes; nothing else (labels, the creation time, the run record) enters it.
/// </summary>
public sealed class ArtifactWriter : IDisposable
{
    readonly ArtifactStore _store;
    readonly string _kind;
    readonly string _dir;
    readonly Dictionary<string, Part> _parts = new();
    long _reserved;
    bool _done;

    sealed class Part
    {
        public required FileStream File;
        public required IncrementalHash Hash;
        public DType DType;
        public long[] Trailing = [];
        public long Rows;
        public bool Scalar;
    }

    internal ArtifactWriter(ArtifactStore store, string kind, string dir) { _store = store; _kind = kind; _dir = dir; }

    public Dictionary<string, string> Labels { get; } = new();
    /// <summary>Deterministic metadata (method, options, seed, inputs, metrics of the data): hashed into the id.</summary>
    public string MetadataJson { get; set; } = "{}";

    /// <summary>
    /// The run record (JSON): what varies between runs of the same inputs — wall-clock timings,
    /// hosts, dates. Stored with the artifact as <c>ArtifactInfo.run_json</c>, never hashed; when the
    /// content is already stored, the stored copy keeps the record of the run that first wrote it.
    /// </summary>
    public string RunJson { get; set; } = "";

    /// <summary>Appends rows to tensor <paramref name="name"/> (created on first call).</summary>
    public void AppendRows(string name, DType dtype, IReadOnlyList<long> blockShape, ReadOnlySpan<byte> data)
    {
        if (string.IsNullOrEmpty(name)) name = "data";
        if (!_parts.TryGetValue(name, out var p))
        {
            var safe = Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(name));
            p = new Part
            {
                File = new FileStream(Path.Combine(_dir, safe.Length > 100 ? Guid.NewGuid().ToString("N") : safe), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20),
                Hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
                DType = dtype,
                Trailing = blockShape.Skip(1).ToArray(),
                Scalar = blockShape.Count == 0,
            };
            _parts[name] = p;
        }
        else if (p.DType != dtype || !p.Trailing.AsSpan().SequenceEqual(blockShape.Skip(1).ToArray()))
        {
            throw new InvalidInputException(name, "dtype or trailing dims changed between blocks");
        }
        _store.Reserve(data.Length);
        _reserved += data.Length;
        try { p.File.Write(data); }
        catch (IOException e) { throw ArtifactStore.DiskFull(e); }
        p.Hash.AppendData(data);
        p.Rows += blockShape.Count == 0 ? 1 : blockShape[0];
    }

    /// <summary>Appends a tensor's rows (a 0-d tensor is stored as 0-d).</summary>
    public void AddTensor(string name, torch.Tensor tensor)
    {
        var t = TensorCodec.Contiguous(tensor);
        AppendRows(name, TensorCodec.ToDType(t.dtype), t.shape, t.bytes);
    }

    /// <summary>Writes the safetensors file and meta.json and renames the artifact into place.</summary>
    public Task<ArtifactInfo> CommitAsync(CancellationToken ct = default)
    {
        if (_done) throw new InvalidOperationException("artifact already committed or aborted");
        ct.ThrowIfCancellationRequested();
        var names = _parts.Keys.OrderBy(n => n, StringComparer.Ordinal).ToList();
        var idParts = new List<string> { "kind", _kind, "meta", MetadataJson };
        var header = new List<(string, DType, long[], long)>();
        var info = new ArtifactInfo { Ref = new ArtifactRef { Kind = _kind }, MetadataJson = MetadataJson, RunJson = RunJson, Created = Timestamp.FromDateTime(DateTime.UtcNow) };
        foreach (var (k, v) in Labels) info.Labels[k] = v;
        foreach (var n in names)
        {
            var p = _parts[n];
            long[] shape = p.Scalar && p.Rows == 1 ? [] : [p.Rows, .. p.Trailing];
            header.Add((n, p.DType, shape, p.File.Length));
            idParts.AddRange([n, p.DType.ToString(), string.Join(",", shape), Convert.ToHexStringLower(p.Hash.GetHashAndReset())]);
            var ti = new TensorInfo { Name = n, Dtype = p.DType };
            ti.Shape.Add(shape);
            info.Tensors.Add(ti);
        }
        var id = ArtifactId.Of(idParts.ToArray());
        info.Ref.Id = id;
        var path = Path.Combine(_dir, "tensors.safetensors");
        // The parts are copied into one file: for a moment the artifact takes twice its size.
        var headerBytes = Safetensors.Header(header);
        _store.CheckFree(headerBytes.Length + _parts.Values.Sum(p => p.File.Length));
        try
        {
            using var outFile = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            outFile.Write(headerBytes);
            foreach (var n in names)
            {
                ct.ThrowIfCancellationRequested();
                var f = _parts[n].File;
                f.Position = 0;
                f.CopyTo(outFile, 1 << 20);
            }
            outFile.Flush(true);
            info.SizeBytes = outFile.Length;
        }
        catch (IOException e) { throw ArtifactStore.DiskFull(e); }
        foreach (var p in _parts.Values) { p.File.Dispose(); File.Delete(p.File.Name); p.Hash.Dispose(); }
        _parts.Clear();
        _done = true;
        try { return Task.FromResult(_store.Commit(_dir, id, info)); }
        finally { ReleaseReservation(); }
    }

    void ReleaseReservation()
    {
        _store.Release(_reserved);
        _reserved = 0;
    }

    public void Dispose()
    {
        foreach (var p in _parts.Values) { p.File.Dispose(); p.Hash.Dispose(); }
        _parts.Clear();
        if (!_done && Directory.Exists(_dir)) Directory.Delete(_dir, true);
        _done = true;
        ReleaseReservation();
    }
}

/// <summary>Reads an artifact's tensors whole, by row range, or as blocks (N may exceed memory).</summary>
public sealed class ArtifactReader : IDisposable
{
    readonly FileStream _file;
    readonly Dictionary<string, SafetensorsEntry> _entries;

    internal ArtifactReader(ArtifactInfo info, string path)
    {
        Info = info;
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.RandomAccess);
        _entries = Safetensors.ReadHeader(_file).Entries.ToDictionary(e => e.Name);
    }

    public ArtifactInfo Info { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => _entries;

    public SafetensorsEntry Entry(string name, string field = "tensor") =>
        _entries.TryGetValue(name, out var e) ? e : throw new NotFoundException($"tensor in artifact {Info.Ref.Id} ({field})", name);

    public bool Has(string name) => _entries.ContainsKey(name);

    /// <summary>The whole tensor.</summary>
    public torch.Tensor Read(string name)
    {
        var e = Entry(name);
        if (e.Shape.Length == 0)
        {
            var bytes = ReadBytes(e.Begin, e.End - e.Begin);
            return TensorCodec.FromBytes(e.DType, [], bytes);
        }
        return ReadRows(name, 0, e.Rows);
    }

    /// <summary>Rows [start, start + count) of a tensor.</summary>
    public torch.Tensor ReadRows(string name, long start, long count)
    {
        var e = Entry(name);
        if (start < 0 || count < 0 || start + count > e.Rows)
            throw new InvalidInputException("rows", $"range [{start}, {start + count}) is outside [0, {e.Rows})");
        long[] shape = [count, .. e.Shape.Skip(1)];
        var bytes = ReadBytes(e.Begin + start * e.RowBytes, count * e.RowBytes);
        return TensorCodec.FromBytes(e.DType, shape, bytes);
    }

    /// <summary>The tensor as consecutive row blocks of at most <paramref name="rowsPerBlock"/> rows.</summary>
    public IEnumerable<(long Offset, torch.Tensor Block)> ReadBlocks(string name, long rowsPerBlock)
    {
        var e = Entry(name);
        if (rowsPerBlock <= 0) throw new InvalidInputException("rows_per_block", "must be > 0");
        for (long r = 0; r < e.Rows; r += rowsPerBlock)
            yield return (r, ReadRows(name, r, Math.Min(rowsPerBlock, e.Rows - r)));
    }

    byte[] ReadBytes(long offset, long length)
    {
        var buf = GC.AllocateUninitializedArray<byte>(checked((int)length));
        int done = 0;
        while (done < buf.Length)
        {
            int n = RandomAccess.Read(_file.SafeFileHandle, buf.AsSpan(done), offset + done);
            if (n <= 0) throw new InvalidDataException($"artifact {Info.Ref.Id} is truncated");
            done += n;
        }
        return buf;
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>What a garbage collection did (or, in a dry run, would do).</summary>
public sealed record GarbageReport(IReadOnlyList<string> Deleted, long FreedBytes, int Kept, int SweptTemporary);
