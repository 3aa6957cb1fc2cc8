namespace ConceptSuite.Core.Caching;

/// <summary>
/// A cache of expensive, disposable things (loaded models, inference sessions) keyed by client
/// input, bounded by entry count and by bytes, evicting the least recently used. A caller holds
/// an entry through a <see cref="Lease"/>: an evicted entry leaves the cache at once (a new
/// request loads it again) but is disposed only when its last lease ends, so nothing is disposed
/// under a running call. Each entry is created once however many callers ask at the same time.
/// </summary>
public sealed class LeasedLruCache<TKey, TValue> : IDisposable where TKey : notnull where TValue : class
{
    sealed class Entry(TKey key, Lazy<TValue> value)
    {
        public readonly TKey Key = key;
        public readonly Lazy<TValue> Value = value;
        public LinkedListNode<Entry>? Node;
        public long Bytes;
        public int Leases;
        public bool Evicted;
    }

    readonly object _lock = new();
    readonly Dictionary<TKey, Entry> _map;
    readonly LinkedList<Entry> _recency = new(); // most recently used first
    readonly Func<TValue, long> _sizeOf;
    readonly Action<TValue> _dispose;
    long _bytes;
    bool _disposed;

    /// <param name="maxEntries">Entries kept (at least 1).</param>
    /// <param name="maxBytes">Bytes kept, as <paramref name="sizeOf"/> measures them; the newest entry stays even when it alone is larger.</param>
    public LeasedLruCache(int maxEntries, long maxBytes, Func<TValue, long> sizeOf, Action<TValue> dispose, IEqualityComparer<TKey>? comparer = null)
    {
        MaxEntries = Math.Max(1, maxEntries);
        MaxBytes = Math.Max(0, maxBytes);
        _sizeOf = sizeOf;
        _dispose = dispose;
        _map = new Dictionary<TKey, Entry>(comparer);
    }

    public int MaxEntries { get; }
    public long MaxBytes { get; }

    /// <summary>Entries in the cache now.</summary>
    public int Count { get { lock (_lock) return _map.Count; } }

    /// <summary>Bytes of the entries in the cache now.</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }

    /// <summary>Entries evicted since the cache was made.</summary>
    public long Evictions { get; private set; }

    /// <summary>Entries created since the cache was made (a hit creates none).</summary>
    public long Creations { get; private set; }

    /// <summary>Keys in the cache, most recently used first.</summary>
    public IReadOnlyList<TKey> Keys { get { lock (_lock) return _recency.Select(e => e.Key).ToList(); } }

    /// <summary>
    /// The entry of <paramref name="key"/>, created by <paramref name="create"/> when absent; the
    /// lease must be disposed when the caller is done with the value. A failed creation leaves
    /// nothing behind and throws to every caller that waited for it.
    /// </summary>
    public Lease Acquire(TKey key, Func<TKey, TValue> create)
    {
        Entry entry;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_map.TryGetValue(key, out entry!))
            {
                entry = new Entry(key, new Lazy<TValue>(() => create(key), LazyThreadSafetyMode.ExecutionAndPublication));
                _map[key] = entry;
                entry.Node = _recency.AddFirst(entry);
            }
            else
            {
                _recency.Remove(entry.Node!);
                _recency.AddFirst(entry.Node!);
            }
            entry.Leases++;
        }
        TValue value;
        try { value = entry.Value.Value; }
        catch
        {
            lock (_lock)
            {
                entry.Leases--;
                if (_map.TryGetValue(key, out var e) && ReferenceEquals(e, entry)) Remove(entry);
            }
            throw;
        }
        List<TValue>? dispose = null;
        lock (_lock)
        {
            if (entry.Bytes == 0 && !entry.Evicted && entry.Node is not null)
            {
                entry.Bytes = Math.Max(1, _sizeOf(value));
                _bytes += entry.Bytes;
                Creations++;
            }
            dispose = Trim(entry);
        }
        DisposeAll(dispose);
        return new Lease(this, entry, value);
    }

    /// <summary>Evicts least recently used entries (never <paramref name="keep"/>) until within both bounds; returns those to dispose now.</summary>
    List<TValue>? Trim(Entry keep)
    {
        List<TValue>? idle = null;
        var node = _recency.Last;
        while (node is not null && (_map.Count > MaxEntries || _bytes > MaxBytes))
        {
            var previous = node.Previous;
            var e = node.Value;
            // An entry still loading has no size yet; it is measured (and trimmed) when it arrives.
            if (!ReferenceEquals(e, keep) && e.Value.IsValueCreated)
            {
                Remove(e);
                Evictions++;
                if (e.Leases == 0) (idle ??= []).Add(e.Value.Value);
            }
            node = previous;
        }
        return idle;
    }

    void Remove(Entry e)
    {
        _map.Remove(e.Key);
        if (e.Node is not null) _recency.Remove(e.Node);
        e.Node = null;
        e.Evicted = true;
        _bytes -= e.Bytes;
    }

    void Release(Entry e)
    {
        bool dispose;
        lock (_lock)
        {
            e.Leases--;
            dispose = e.Leases == 0 && e.Evicted && e.Value.IsValueCreated;
        }
        if (dispose) _dispose(e.Value.Value);
    }

    void DisposeAll(List<TValue>? values)
    {
        if (values is null) return;
        foreach (var v in values) _dispose(v);
    }

    /// <summary>Disposes every idle entry now and every leased one when its lease ends.</summary>
    public void Dispose()
    {
        List<TValue> idle = [];
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _map.Values.ToList())
            {
                Remove(e);
                if (e.Leases == 0 && e.Value.IsValueCreated) idle.Add(e.Value.Value);
            }
        }
        DisposeAll(idle);
    }

    /// <summary>A caller's hold on an entry: the value stays undisposed until this is disposed.</summary>
    public sealed class Lease : IDisposable
    {
        readonly LeasedLruCache<TKey, TValue> _cache;
        readonly Entry _entry;
        int _released;

        internal Lease(LeasedLruCache<TKey, TValue> cache, object entry, TValue value)
        {
            _cache = cache; _entry = (Entry)entry; Value = value;
        }

        public TValue Value { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) _cache.Release(_entry);
        }
    }
}
