using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace ConceptSuite.Contracts;

/// <summary>
/// One shared-memory region file (tensor.proto, SharedMemory) mapped into this process: the
/// receiver creates it, the sender opens it by path, both copy bytes in and out with memmove.
/// (SafeBuffer's own ReadSpan/WriteSpan copy element by element; spans over the mapped pointer
/// copy with memmove.) Files are created 0600 with their whole size reserved up front (fallocate), so a full
/// /dev/shm fails the creation instead of a later page fault killing the writer.
/// </summary>
public sealed unsafe class SharedRegionFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    int _disposed;

    SharedRegionFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long bytes)
    {
        Path = path;
        _map = map;
        _view = view;
        Bytes = bytes;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    public string Path { get; }
    public long Bytes { get; }

    /// <summary>This kernel's boot id (/proc/sys/kernel/random/boot_id); null where there is none.</summary>
    public static string? BootId { get; } = ReadBootId();

    static string? ReadBootId()
    {
        try { return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Creates a new file of exactly <paramref name="bytes"/> (fails if it exists) and maps it.</summary>
    public static SharedRegionFile Create(string path, long bytes)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite,
            PreallocationSize = bytes,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        FileStream? stream = null;
        try
        {
            stream = new FileStream(path, options);
            stream.SetLength(bytes);
            return Map(path, stream, bytes);
        }
        catch
        {
            stream?.Dispose();
            try { File.Delete(path); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Maps an existing region file; its length must be <paramref name="bytes"/>.</summary>
    public static SharedRegionFile Open(string path, long bytes)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            if (stream.Length != bytes) throw new IOException($"{path} holds {stream.Length} bytes, not {bytes}");
            return Map(path, stream, bytes);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    static SharedRegionFile Map(string path, FileStream stream, long bytes)
    {
        var map = MemoryMappedFile.CreateFromFile(stream, null, bytes, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        try
        {
            return new SharedRegionFile(path, map, map.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.ReadWrite), bytes);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>Copies <paramref name="data"/> into the region at <paramref name="offset"/>.</summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Check(offset, data.Length);
        data.CopyTo(new Span<byte>(_base + offset, data.Length));
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes from the region at <paramref name="offset"/>.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        Check(offset, destination.Length);
        new ReadOnlySpan<byte>(_base + offset, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// The bytes [offset, offset + length) in place, as memory (no copy). Valid only while this
    /// file is open: whoever hands it out keeps the file open until every reader is done.
    /// </summary>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        Check(offset, length);
        return new View(_base + offset, length).Memory;
    }

    sealed class View(byte* start, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(start, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(start + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }

    void Check(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (offset < 0 || length < 0 || offset > Bytes - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset}+{length}) is outside the region's {Bytes} bytes");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
