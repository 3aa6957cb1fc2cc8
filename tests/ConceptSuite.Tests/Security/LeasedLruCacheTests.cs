using ConceptSuite.Core.Caching;

namespace ConceptSuite.Tests.Security;

public sealed class LeasedLruCacheTests
{
    sealed class Thing(string name, long bytes)
    {
        public string Name { get; } = name;
        public long Bytes { get; } = bytes;
        public bool Disposed { get; set; }
    }

    static LeasedLruCache<string, Thing> Cache(int count, long bytes, List<string> disposed) =>
        new(count, bytes, t => t.Bytes, t => { t.Disposed = true; lock (disposed) disposed.Add(t.Name); });

    [Fact]
    public void TheLeastRecentlyUsedEntryGoesWhenTheCountBoundIsPassed()
    {
        var disposed = new List<string>();
        using var cache = Cache(2, long.MaxValue, disposed);
        foreach (var k in new[] { "a", "b", "a", "c" })
            using (cache.Acquire(k, n => new Thing(n, 10))) { }
        // "a" was used after "b": "b" is the least recently used when "c" arrives.
        Assert.Equal(["c", "a"], cache.Keys);
        Assert.Equal(["b"], disposed);
        Assert.Equal(1, cache.Evictions);
        Assert.Equal(3, cache.Creations);
        Assert.Equal(20, cache.Bytes);
    }

    [Fact]
    public void TheByteBoundEvictsUntilTheRestFitsButKeepsTheNewestEvenWhenItAloneIsLarger()
    {
        var disposed = new List<string>();
        using var cache = Cache(100, 100, disposed);
        using (cache.Acquire("a", n => new Thing(n, 40))) { }
        using (cache.Acquire("b", n => new Thing(n, 40))) { }
        using (cache.Acquire("c", n => new Thing(n, 40))) { }   // 120 > 100: "a" goes
        Assert.Equal(["c", "b"], cache.Keys);
        Assert.Equal(80, cache.Bytes);
        Assert.Equal(["a"], disposed);
        using (cache.Acquire("big", n => new Thing(n, 500))) { } // alone over the bound: it stays, the rest goes
        Assert.Equal(["big"], cache.Keys);
        Assert.Equal(500, cache.Bytes);
        Assert.Equal(["a", "b", "c"], disposed);   // least recently used first
    }

    [Fact]
    public void AnEvictedEntryInUseIsDisposedOnlyWhenItsLastLeaseEnds()
    {
        var disposed = new List<string>();
        using var cache = Cache(1, long.MaxValue, disposed);
        var held = cache.Acquire("a", n => new Thing(n, 1));
        var second = cache.Acquire("a", n => new Thing(n, 1));
        using (cache.Acquire("b", n => new Thing(n, 1))) { }
        Assert.Equal(["b"], cache.Keys);          // "a" left the cache at once ...
        Assert.False(held.Value.Disposed);       // ... but is not disposed under its callers
        held.Dispose();
        held.Dispose();                          // a second dispose of one lease counts once
        Assert.False(second.Value.Disposed);
        second.Dispose();
        Assert.True(second.Value.Disposed);
        Assert.Equal(["a"], disposed);
        // Asked again, it is made anew.
        using var again = cache.Acquire("a", n => new Thing(n, 1));
        Assert.False(again.Value.Disposed);
        Assert.Equal(3, cache.Creations);
    }

    [Fact]
    public async Task ConcurrentCallersOfOneKeyShareOneCreation()
    {
        using var cache = Cache(4, long.MaxValue, []);
        int created = 0;
        var leases = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => cache.Acquire("k", n =>
        {
            Interlocked.Increment(ref created);
            Thread.Sleep(50);
            return new Thing(n, 1);
        }))));
        Assert.Equal(1, created);
        Assert.All(leases, l => Assert.Same(leases[0].Value, l.Value));
        foreach (var l in leases) l.Dispose();
    }

    [Fact]
    public void AFailedCreationLeavesNothingBehindAndTheNextCallTriesAgain()
    {
        using var cache = Cache(4, long.MaxValue, []);
        Assert.Throws<InvalidOperationException>(() => cache.Acquire("k", _ => throw new InvalidOperationException("no")));
        Assert.Equal(0, cache.Count);
        using var ok = cache.Acquire("k", n => new Thing(n, 3));
        Assert.Equal("k", ok.Value.Name);
        Assert.Equal(3, cache.Bytes);
    }
}
