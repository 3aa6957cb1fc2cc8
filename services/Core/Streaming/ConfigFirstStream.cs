using System.Runtime.CompilerServices;
using ConceptSuite.Contracts;
using Grpc.Core;

namespace ConceptSuite.Core.Streaming;

/// <summary>
/// The prologue of every "config first, then tensor blocks" request stream: the first message
/// must carry the config; every later one a block. An empty stream, a missing config or a second
/// config is INVALID_ARGUMENT naming <c>config</c>.
/// </summary>
public static class ConfigFirstStream
{
    public static Task<(TConfig Config, IAsyncEnumerable<TensorBlock> Blocks)> ReadAsync<TRequest, TConfig>(
        IAsyncStreamReader<TRequest> reader, Func<TRequest, TConfig?> config, Func<TRequest, TensorBlock?> block,
        CancellationToken ct, string field = "config") where TConfig : class =>
        ReadPartsAsync(reader, config, block, ct, field);

    /// <summary>
    /// The same prologue for a stream whose later messages may carry other parts than a block
    /// (e.g. an encoded image or a block of images): <paramref name="part"/> returns the part,
    /// or null when the message is another config.
    /// </summary>
    public static async Task<(TConfig Config, IAsyncEnumerable<TPart> Parts)> ReadPartsAsync<TRequest, TConfig, TPart>(
        IAsyncStreamReader<TRequest> reader, Func<TRequest, TConfig?> config, Func<TRequest, TPart?> part,
        CancellationToken ct, string field = "config") where TConfig : class where TPart : class
    {
        if (!await reader.MoveNext(ct)) throw new InvalidInputException(field, "the stream is empty; send the config first");
        var cfg = config(reader.Current) ?? throw new InvalidInputException(field, "the first message must carry the config");
        return (cfg, Parts(reader, part, field, ct));
    }

    static async IAsyncEnumerable<TPart> Parts<TRequest, TPart>(IAsyncStreamReader<TRequest> reader, Func<TRequest, TPart?> part,
        string field, [EnumeratorCancellation] CancellationToken ct) where TPart : class
    {
        while (await reader.MoveNext(ct))
            yield return part(reader.Current) ?? throw new InvalidInputException(field, "sent more than once; every message after the first must be a block");
    }
}
