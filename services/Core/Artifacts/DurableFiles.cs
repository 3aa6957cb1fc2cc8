using System.Runtime.InteropServices;
using System.Text;

namespace ConceptSuite.Core.Artifacts;

/// <summary>
/// Writes that survive a crash and a power loss. A rename alone orders nothing on disk: ext4 and
/// xfs may persist the rename before the file's data (a zero-length file after a power cut) and
/// may lose the rename itself until the folder is flushed. So a file is written under a temporary
/// name in its folder and flushed (fsync), renamed over its final name, and the folder is flushed
/// after the rename: after a crash the old content or the new one is there, never a torn file.
/// </summary>
public static class DurableFiles
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> (UTF-8) atomically and durably.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> atomically and durably.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            WriteNew(tmp, bytes);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        SyncDirectory(Path.GetDirectoryName(full)!);
    }

    /// <summary>Creates <paramref name="path"/> (which must not exist) with <paramref name="bytes"/>, flushed to the disk.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> bytes)
    {
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        f.Write(bytes);
        f.Flush(flushToDisk: true);
    }

    /// <summary>Flushes an existing file's data to the disk.</summary>
    public static void SyncFile(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        f.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Flushes a folder's entries (the names created, renamed or removed in it) to the disk. On
    /// Windows, whose file system journals renames with their data, this does nothing.
    /// </summary>
    public static void SyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(dir, 0 /* O_RDONLY: a folder opens read-only, without O_DIRECTORY whose value differs by architecture */);
        if (fd < 0) throw new IOException($"cannot open folder {dir} to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of folder {dir} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { Close(fd); }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi)]
    static extern int Open(string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    static extern int Close(int fd);
}
