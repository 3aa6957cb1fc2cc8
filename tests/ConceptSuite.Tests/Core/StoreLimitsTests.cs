using System.Diagnostics;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

/// <summary>The store's quota, free-space floor, full disk, pins, garbage collection and per-process temporary folders.</summary>
public sealed class StoreLimitsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "cs-limits-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    static Dictionary<string, torch.Tensor> Floats(int count, int seed)
    {
        using var g = new torch.Generator((ulong)seed);
        return new() { ["x"] = torch.randn([count], generator: g) };
    }

    static IEnumerable<string> Entries(string dir) => Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories) : [];

    [Fact]
    public async Task AWriteBeyondTheQuotaIsResourceExhaustedAndLeavesNothingHalfWritten()
    {
        var store = new ArtifactStore(_dir, options: new StoreOptions { QuotaBytes = 100_000, MinFreeBytes = 0 });
        var first = await store.PutAsync("activations", Floats(10_000, 1));          // 40,000 bytes of data
        Assert.InRange(store.UsedBytes, 40_000, 42_000);
        var e = await Assert.ThrowsAsync<ResourceExhaustedException>(() => store.PutAsync("activations", Floats(16_000, 2)));
        Assert.Contains("quota", e.Message);
        Assert.Empty(Entries(store.TemporaryFolder));
        Assert.Single(store.List());
        // The refused write took nothing of the quota: what fits still fits, and deleting makes room.
        await store.PutAsync("activations", Floats(10_000, 3));
        Assert.True(store.Delete(first.Ref.Id));
        await store.PutAsync("activations", Floats(12_000, 2));
        Assert.Equal(2, store.List().Count());
        // A second store of the same data directory (another process) counts what is on disk.
        var again = new ArtifactStore(_dir, options: new StoreOptions { QuotaBytes = 100_000, MinFreeBytes = 0 });
        Assert.Equal(store.UsedBytes, again.UsedBytes);
        await Assert.ThrowsAsync<ResourceExhaustedException>(() => again.PutAsync("activations", Floats(10_000, 4)));
    }

    [Fact]
    public async Task AWriteThatWouldGoBelowTheFreeSpaceFloorIsResourceExhausted()
    {
        var probe = new ArtifactStore(_dir, options: new StoreOptions { MinFreeBytes = 0 });
        var floor = probe.FreeBytes + (1L << 30);
        var store = new ArtifactStore(_dir, options: new StoreOptions { MinFreeBytes = floor });
        var e = await Assert.ThrowsAsync<ResourceExhaustedException>(() => store.PutAsync("activations", Floats(100, 1)));
        Assert.Contains("floor", e.Message);
        Assert.Empty(Entries(store.TemporaryFolder));
        Assert.Empty(store.List());
    }

    /// <summary>
    /// A real full disk: a 1 MiB tmpfs (mounted when this process may mount, as root in CI) takes
    /// one 300 kB artifact; a 600 kB one fails with ENOSPC inside the store and answers
    /// RESOURCE_EXHAUSTED, its temporary files removed, and the store keeps serving.
    /// </summary>
    [Fact]
    public async Task OnAFullTmpfsAWriteIsResourceExhaustedAndLeavesNothingBehind()
    {
        var mountPoint = Path.Combine(_dir, "small");
        Directory.CreateDirectory(mountPoint);
        if (!Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint))
        {
            Console.WriteLine("tmpfs: mount is not permitted here; the full-disk case ran only through the free-space floor");
            return;
        }
        try
        {
            var store = new ArtifactStore(mountPoint, options: new StoreOptions { MinFreeBytes = 0 });
            var kept = await store.PutAsync("activations", Floats(75_000, 1));   // 300,000 bytes (600,000 while being written)
            await Assert.ThrowsAsync<ResourceExhaustedException>(() => store.PutAsync("activations", Floats(150_000, 2)));
            Assert.Empty(Entries(store.TemporaryFolder));
            Assert.Equal([kept.Ref.Id], store.List().Select(a => a.Ref.Id));
            using (var r = store.Open(kept.Ref.Id)) Assert.Equal(75_000, r.Read("x").shape[0]);
            // With the floor the same write is refused before a byte is written.
            var floored = new ArtifactStore(mountPoint, options: new StoreOptions { MinFreeBytes = 256 << 10 });
            await Assert.ThrowsAsync<ResourceExhaustedException>(() => floored.PutAsync("activations", Floats(150_000, 3)));
            Assert.Empty(Entries(floored.TemporaryFolder));
            await store.PutAsync("activations", Floats(1_000, 4));
        }
        finally { Run("umount", mountPoint); }
    }

    static bool Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit(10_000);
            return p.HasExited && p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    [Fact]
    public async Task CollectionKeepsRootsTheirInputsAndPinsAndDeletesTheRest()
    {
        var store = new ArtifactStore(_dir, options: new StoreOptions { MinFreeBytes = 0 });
        var input = await store.PutAsync("activations", Floats(10, 1));
        var output = await store.PutAsync("dictionary", Floats(10, 2), $$"""{"data_id":"{{input.Ref.Id}}"}""");
        var stray = await store.PutAsync("activations", Floats(10, 3));
        var pinned = await store.PutAsync("activations", Floats(10, 4));
        Assert.True(store.Pin(pinned.Ref.Id, true).Pinned);
        Assert.True(store.GetInfo(pinned.Ref.Id).Pinned);
        Assert.False(store.Delete(pinned.Ref.Id));

        // Everything is younger than an hour: nothing is collected.
        Assert.Empty(store.CollectGarbage([output.Ref.Id], TimeSpan.FromHours(1), dryRun: false).Deleted);
        var dry = store.CollectGarbage([output.Ref.Id], TimeSpan.Zero, dryRun: true);
        Assert.Equal([stray.Ref.Id], dry.Deleted);
        Assert.Equal(4, store.List().Count());
        var report = store.CollectGarbage([output.Ref.Id], TimeSpan.Zero, dryRun: false);
        Assert.Equal([stray.Ref.Id], report.Deleted);
        Assert.Equal(stray.SizeBytes, report.FreedBytes);
        Assert.Equal(3, report.Kept);
        Assert.Equal(new[] { input.Ref.Id, output.Ref.Id, pinned.Ref.Id }.Order(), store.List().Select(a => a.Ref.Id).Order());

        // Unpinned and no longer a root: collected, the input with the output that referenced it.
        Assert.False(store.Pin(pinned.Ref.Id, false).Pinned);
        var last = store.CollectGarbage([], TimeSpan.Zero, dryRun: false);
        Assert.Equal(new[] { input.Ref.Id, output.Ref.Id, pinned.Ref.Id }.Order(), last.Deleted.Order());
        Assert.Empty(store.List());
        Assert.Throws<NotFoundException>(() => store.Pin(stray.Ref.Id, true));
    }

    [Fact]
    public async Task EachStoreWritesInItsOwnTemporaryFolderAndOnlyStaleOnesAreSwept()
    {
        var first = new ArtifactStore(_dir);
        using var writer = first.BeginWrite("activations");
        using (var t = torch.ones(1000)) writer.AddTensor("x", t);
        var tmpRoot = Path.GetDirectoryName(first.TemporaryFolder)!;
        // What a process that crashed long ago left, and what one that crashed a minute ago left.
        var stale = Directory.CreateDirectory(Path.Combine(tmpRoot, "p1-stale")).FullName;
        File.WriteAllText(Path.Combine(stale, "part"), "x");
        File.SetLastWriteTimeUtc(Path.Combine(stale, "part"), DateTime.UtcNow.AddDays(-2));
        Directory.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-2));
        var recent = Directory.CreateDirectory(Path.Combine(tmpRoot, "p2-recent")).FullName;

        // Another process starts on the same data directory: the upload in progress survives it.
        var second = new ArtifactStore(_dir);
        Assert.NotEqual(first.TemporaryFolder, second.TemporaryFolder);
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(recent));
        var info = await writer.CommitAsync();
        Assert.True(second.Exists(info.Ref.Id));
        Assert.Empty(Entries(first.TemporaryFolder));
    }
}
