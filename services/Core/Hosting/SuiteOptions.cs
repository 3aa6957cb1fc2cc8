namespace ConceptSuite.Core.Hosting;

/// <summary>
/// Suite-wide options, bound from the "ConceptSuite" configuration section (environment:
/// ConceptSuite__DataDir, ConceptSuite__Device, ...).
/// </summary>
public sealed class SuiteOptions
{
    public const string Section = "ConceptSuite";

    /// <summary>Root of the stage's state: artifacts/, jobs/, workflow database.</summary>
    public string DataDir { get; set; } = "data";

    /// <summary>auto (CUDA when libtorch sees it, else CPU) | cpu | cuda:N.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Largest gRPC message accepted or sent, bytes. Blocks are ~1 MiB; 16 MiB leaves room.</summary>
    public int MaxMessageBytes { get; set; } = 16 << 20;

    /// <summary>Payload budget of each streamed tensor block, bytes: the one block-size setting.</summary>
    public int BlockBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The block size for a reply whose request asked for at most <paramref name="requested"/>
    /// bytes per block (a <c>max_block_bytes</c> field): <see cref="BlockBytes"/> when 0 or
    /// negative, else the request's value capped at <see cref="BlockBytes"/>.
    /// </summary>
    public int BlockBytesFor(long requested) => requested <= 0 ? BlockBytes : (int)Math.Min(requested, BlockBytes);

    /// <summary>Upper bound on one tensor stream's payload, bytes.</summary>
    public long MaxStreamBytes { get; set; } = 64L << 30;

    /// <summary>
    /// Parse large received tensor payloads into pooled buffers (<see cref="Contracts.ReceivedBlocks"/>)
    /// instead of a new array per message. Process-wide.
    /// </summary>
    public bool PooledReceive { get; set; } = true;

    /// <summary>Intra-op threads for libtorch; 0 = all cores.</summary>
    public int TorchThreads { get; set; }

    /// <summary>Jobs running at once per stage.</summary>
    public int MaxConcurrentJobs { get; set; } = 2;

    /// <summary>Jobs waiting for a slot per stage; beyond this a new job gets RESOURCE_EXHAUSTED.</summary>
    public int MaxQueuedJobs { get; set; } = 8;

    /// <summary>Requests in flight per stage (all RPCs); beyond this RESOURCE_EXHAUSTED.</summary>
    public int MaxInFlightRequests { get; set; } = 64;

    /// <summary>
    /// Per-call memory budget, bytes: what one request may expand to at once (rows × bytes per row
    /// after conforming, decoded images, designs and masks). 0: sized for the machine, a sixteenth of
    /// the memory the runtime sees, between 256 MiB and 4 GiB (<see cref="CallBytes"/>).
    /// </summary>
    public long MaxCallBytes { get; set; }

    /// <summary>Class limit: label values must be below it (a model's head has max label + 1 classes).</summary>
    public long MaxClasses { get; set; } = 1 << 16;

    /// <summary>Encoded images one ImportDataset call may decode.</summary>
    public long MaxDecodedImages { get; set; } = 1 << 20;

    /// <summary>
    /// Longest any call may run, seconds: a call without a deadline, or with a later one, gets
    /// this one and ends DEADLINE_EXCEEDED when it passes (<see cref="Limits.CallLimits"/>). 0: no cap.
    /// </summary>
    public double MaxCallSeconds { get; set; } = 86400;

    /// <summary>
    /// Longest a client-streaming or duplex call may wait for the client's next message, seconds;
    /// past it the call ends DEADLINE_EXCEEDED ("request stream: no message for N s"). 0: no limit.
    /// </summary>
    public double IdleStreamSeconds { get; set; } = 600;

    /// <summary>Largest metadata_json an artifact upload may carry, bytes (UTF-8).</summary>
    public int MaxMetadataJsonBytes { get; set; } = 1 << 20;

    /// <summary>The per-call budget in effect: <see cref="MaxCallBytes"/>, or the machine-sized default when 0.</summary>
    public long CallBytes() => MaxCallBytes > 0 ? MaxCallBytes
        : Math.Clamp(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 16, 256L << 20, 4L << 30);
}
