using ConceptSuite.Contracts;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace ConceptSuite.Client;

/// <summary>
/// The sending side of the shared-memory data plane for one channel. Large TensorBlocks of a
/// call's request stream are copied into regions the server created for this caller
/// (SharedMemory.CreateRegion) and travel as a SharedSlice; everything else, and every call to a
/// server on another host (another boot id, or a region path this process cannot open), goes
/// inline as before. Regions are reused by later calls (a pool per channel) and released when the
/// link is disposed; a region the server has let expire is dropped from the pool. Reply streams
/// ask for the same path the other way (the server writes large reply blocks into regions of this
/// caller; they are copied out and released as the reply ends).
/// Use it through <see cref="Interceptor"/>: <c>channel.Intercept(link.Interceptor)</c>.
/// </summary>
public sealed class SharedMemoryLink : IAsyncDisposable
{
    /// <summary>Blocks smaller than this go inline (a slice costs a region lookup and a copy; small blocks gain nothing).</summary>
    public const int MinSharedBytes = 64 << 10;
    /// <summary>Size of the regions this link asks for (blocks are at most the message size, 16 MiB).</summary>
    public const long RegionBytes = 64L << 20;
    /// <summary>
    /// Free regions kept for later calls (1 GiB of them); more are released, and a kept region the
    /// server lets expire (its lease, 60 s by default, is not renewed while it waits) is dropped.
    /// A region's pages are mapped on their first write, and those page faults cost more than the
    /// copy itself: a pool that holds a large call's regions makes the next such call 3–5 times as
    /// fast (BENCHMARKS.md, "transport: shared memory").
    /// </summary>
    const int MaxPooled = 16;
    static readonly TimeSpan RetryInlineFor = TimeSpan.FromMinutes(1);

    readonly SharedMemory.SharedMemoryClient _regions;
    readonly Stack<Lease> _free = new();
    readonly Lock _lock = new();
    DateTimeOffset _inlineUntil = DateTimeOffset.MinValue;
    bool _disposed;

    /// <param name="invoker">The channel's own invoker (not intercepted by this link).</param>
    public SharedMemoryLink(CallInvoker invoker)
    {
        _regions = new SharedMemory.SharedMemoryClient(invoker);
        Interceptor = new ClientInterceptor(this);
    }

    /// <summary>Adds the shared-memory path to the request streams of calls made through it.</summary>
    public Interceptor Interceptor { get; }

    /// <summary>Why the last attempt to share fell back to inline, if it did (for logs and tests).</summary>
    public string? InlineReason { get; private set; }

    /// <summary>Bytes sent through regions so far.</summary>
    public long SharedBytes => Interlocked.Read(ref _sharedBytes);
    long _sharedBytes;

    sealed class Lease(SharedRegion info, SharedRegionFile file)
    {
        public SharedRegion Info { get; set; } = info;
        public SharedRegionFile File { get; } = file;
        public long Used;
    }

    /// <summary>The regions one call writes into, returned to the pool when the call ends.</summary>
    sealed class CallRegions(SharedMemoryLink link, Metadata? headers) : IAsyncDisposable
    {
        readonly List<Lease> _held = [];
        Lease? _current;
        bool _inline;

        public async ValueTask<TensorBlock> PlaceAsync(TensorBlock block, CancellationToken ct)
        {
            long n = block.Tensor?.Data.Length ?? 0;
            if (_inline || n < MinSharedBytes || block.Shared is not null) return block;
            if (_current is null || _current.File.Bytes - _current.Used < n)
            {
                _current = await link.TakeAsync(Math.Max(RegionBytes, n), headers, ct);
                if (_current is null) { _inline = true; return block; }
                _held.Add(_current);
            }
            long offset = _current.Used;
            _current.File.Write(offset, block.Tensor!.Data.Span);
            // Keep the next slice aligned for any element type and for vector copies.
            _current.Used = (offset + n + 63) & ~63L;
            Interlocked.Add(ref link._sharedBytes, n);
            var shared = block.Clone();
            shared.Tensor.Data = ByteString.Empty;
            shared.Shared = new SharedSlice { Region = _current.Info.Region, Offset = offset, Length = n };
            return shared;
        }

        public ValueTask DisposeAsync()
        {
            foreach (var l in _held) link.Return(l);
            _held.Clear();
            return ValueTask.CompletedTask;
        }
    }

    async Task<Lease?> TakeAsync(long bytes, Metadata? headers, CancellationToken ct)
    {
        while (true)
        {
            Lease? pooled = null;
            lock (_lock)
            {
                if (_disposed || DateTimeOffset.UtcNow < _inlineUntil) return null;
                if (_free.Count > 0) pooled = _free.Pop();
            }
            if (pooled is null) break;
            if (pooled.File.Bytes < bytes) { await ReleaseAsync(pooled, headers); continue; }
            pooled.Used = 0;
            if (await RenewIfNeededAsync(pooled, headers, ct)) return pooled;
        }
        try
        {
            var info = await _regions.CreateRegionAsync(new CreateRegionRequest { Bytes = bytes }, headers, cancellationToken: ct);
            if (info.BootId.Length == 0 || info.BootId != SharedRegionFile.BootId)
            {
                await ReleaseQuietly(info.Region, headers);
                return Inline("the server runs on another host (boot id differs)");
            }
            SharedRegionFile file;
            try { file = SharedRegionFile.Open(info.Path, info.Bytes); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await ReleaseQuietly(info.Region, headers);
                return Inline($"cannot open the server's region file {info.Path}: {e.Message}");
            }
            return new Lease(info, file);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unimplemented or StatusCode.ResourceExhausted or StatusCode.PermissionDenied or StatusCode.NotFound)
        {
            return Inline($"CreateRegion answered {e.StatusCode}: {e.Status.Detail}");
        }
    }

    // A pooled region with under 30 s of lease left is renewed before use: one that expired on
    // the server would fail the call with NOT_FOUND. False: the server no longer has it.
    async Task<bool> RenewIfNeededAsync(Lease l, Metadata? headers, CancellationToken ct)
    {
        var left = DateTimeOffset.FromUnixTimeMilliseconds(l.Info.ExpiresUnixMs) - DateTimeOffset.UtcNow;
        if (left > TimeSpan.FromSeconds(30)) return true;
        try
        {
            l.Info = await _regions.RenewRegionAsync(new RegionRequest { Region = l.Info.Region }, headers, cancellationToken: ct);
            return true;
        }
        catch (RpcException)
        {
            l.File.Dispose();
            return false;
        }
    }

    Lease? Inline(string reason)
    {
        InlineReason = reason;
        lock (_lock) _inlineUntil = DateTimeOffset.UtcNow + RetryInlineFor;
        return null;
    }

    void Return(Lease l)
    {
        lock (_lock)
        {
            if (!_disposed && _free.Count < MaxPooled) { _free.Push(l); return; }
        }
        _ = ReleaseAsync(l, null);
    }

    async Task ReleaseAsync(Lease l, Metadata? headers)
    {
        l.File.Dispose();
        await ReleaseQuietly(l.Info.Region, headers);
    }

    internal async Task ReleaseQuietly(string region, Metadata? headers)
    {
        try { await _regions.ReleaseRegionAsync(new RegionRequest { Region = region }, headers, deadline: DateTime.UtcNow.AddSeconds(10)); }
        catch (RpcException) { } // the lease ends it anyway
    }

    public async ValueTask DisposeAsync()
    {
        Lease[] free;
        lock (_lock)
        {
            _disposed = true;
            free = _free.ToArray();
            _free.Clear();
        }
        foreach (var l in free) await ReleaseAsync(l, null);
    }

    /// <summary>
    /// The reply side of one call: slices the server put in its reply blocks are copied out of its
    /// regions (named by the reply; only files of the suite's own naming are opened) and those
    /// regions are released when the reply stream ends.
    /// </summary>
    sealed class ReplyRegions(SharedMemoryLink link, Metadata? headers) : IAsyncDisposable
    {
        readonly Dictionary<string, SharedRegionFile> _open = new(StringComparer.Ordinal);
        readonly Lock _lock = new();

        public TensorBlock Resolve(TensorBlock block)
        {
            if (block.Shared is not { } slice) return block;
            SharedRegionFile? file;
            lock (_lock) _open.TryGetValue(slice.Region, out file);
            if (file is null)
            {
                // The server fills one region before it opens the next: the earlier ones are read.
                _ = ReleaseOpenAsync();
                if (System.IO.Path.GetFileName(slice.Path) != slice.Region || !slice.Region.StartsWith("conceptsuite-shm-", StringComparison.Ordinal))
                    throw new RpcException(new Status(StatusCode.Internal, $"a reply named region {slice.Region} at {slice.Path}, not a region file"));
                file = SharedRegionFile.Open(slice.Path, new FileInfo(slice.Path).Length);
                lock (_lock) _open[slice.Region] = file;
            }
            var bytes = GC.AllocateUninitializedArray<byte>(checked((int)slice.Length));
            file.Read(slice.Offset, bytes);
            var resolved = block.Clone();
            resolved.Tensor.Data = UnsafeByteOperations.UnsafeWrap(bytes);
            resolved.Shared = null;
            Interlocked.Add(ref link._sharedBytes, slice.Length);
            return resolved;
        }

        public ValueTask DisposeAsync() => new(ReleaseOpenAsync());

        async Task ReleaseOpenAsync()
        {
            KeyValuePair<string, SharedRegionFile>[] open;
            lock (_lock)
            {
                open = _open.ToArray();
                _open.Clear();
            }
            foreach (var (region, file) in open)
            {
                file.Dispose();
                await link.ReleaseQuietly(region, headers);
            }
        }
    }

    sealed class ClientInterceptor(SharedMemoryLink link) : Interceptor
    {
        // Replies through shared memory are asked for with this host's boot id; a server elsewhere ignores it.
        ClientInterceptorContext<TRequest, TResponse> Accepting<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
            where TRequest : class where TResponse : class
        {
            if (SharedRegionFile.BootId is not { } boot || link._disposed) return context;
            var headers = new Metadata();
            if (context.Options.Headers is { } h) foreach (var e in h) headers.Add(e);
            headers.Add("x-conceptsuite-shm-accept", boot);
            return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
        }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(context);
            var regions = new CallRegions(link, context.Options.Headers);
            var writer = new Writer<TRequest>(call.RequestStream, regions, context.Options.CancellationToken);
            var response = Finish(call.ResponseAsync, regions);
            return new AsyncClientStreamingCall<TRequest, TResponse>(writer, response, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers,
                () => { call.Dispose(); _ = regions.DisposeAsync(); });
        }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
            ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var accepting = Accepting(context);
            var call = continuation(request, accepting);
            var replies = new ReplyRegions(link, context.Options.Headers);
            var reader = new Reader<TResponse>(call.ResponseStream, replies, null);
            return new AsyncServerStreamingCall<TResponse>(reader, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers,
                () => { call.Dispose(); _ = replies.DisposeAsync(); });
        }

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            var call = continuation(Accepting(context));
            var regions = new CallRegions(link, context.Options.Headers);
            var replies = new ReplyRegions(link, context.Options.Headers);
            var writer = new Writer<TRequest>(call.RequestStream, regions, context.Options.CancellationToken);
            var reader = new Reader<TResponse>(call.ResponseStream, replies, regions);
            return new AsyncDuplexStreamingCall<TRequest, TResponse>(writer, reader, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers,
                () => { call.Dispose(); _ = regions.DisposeAsync(); _ = replies.DisposeAsync(); });
        }

        static async Task<T> Finish<T>(Task<T> response, CallRegions regions)
        {
            try { return await response; }
            finally { await regions.DisposeAsync(); }
        }
    }

    /// <summary>Rewrites each request's large blocks into slices before writing it.</summary>
    sealed class Writer<T>(IClientStreamWriter<T> inner, CallRegions regions, CancellationToken ct) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }
        public Task CompleteAsync() => inner.CompleteAsync();
        public Task WriteAsync(T message) => WriteAsync(message, ct);

        public async Task WriteAsync(T message, CancellationToken cancellationToken) =>
            await inner.WriteAsync(await TensorBlockFields.RewriteAsync(message, b => regions.PlaceAsync(b, cancellationToken)), cancellationToken);
    }

    /// <summary>Resolves reply slices; when the reply ends, releases its regions and returns the request's to the pool.</summary>
    sealed class Reader<T>(IAsyncStreamReader<T> inner, ReplyRegions replies, CallRegions? requests) : IAsyncStreamReader<T>
    {
        public T Current { get; private set; } = default!;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                if (await inner.MoveNext(cancellationToken))
                {
                    Current = TensorBlockFields.Rewrite(inner.Current, replies.Resolve);
                    return true;
                }
            }
            catch
            {
                await End();
                throw;
            }
            await End();
            return false;
        }

        async Task End()
        {
            await replies.DisposeAsync();
            if (requests is not null) await requests.DisposeAsync();
        }
    }
}
