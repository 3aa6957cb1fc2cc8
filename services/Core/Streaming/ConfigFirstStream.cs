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
    public static async Task<(TConfig Config, IAsyncEnumerable<TensorBlock> Blocks)> ReadAsync<TRequest, TConfig>(
        IAsyncStreamReader<TRequest> reader, Func<TRequest, TConfig?> config, Func<TRequest, TensorBlock?> block,
        CancellationToken ct, string field = "config") where TConfig : class
    {
        if (!await reader.MoveNext(ct)) throw new InvalidInputException(field, "the stream is empty; send the config first");
        var cfg = config(reader.Current) ?? throw new InvalidInputException(field, "the first message must carry the config");
        return (cfg, Blocks(reader, block, field, ct));
    }

    static async IAsyncEnumerable<TensorBlock> Blocks<TRequest>(IAsyncStreamReader<TRequest> reader, Func<TRequest, TensorBlock?> block,
        string field, [EnumeratorCancellation] CancellationToken ct)
    {
        while (await reader.MoveNext(ct))
            yield return block(reader.Current) ?? throw new InvalidInputException(field, "sent more than once; every message after the first must be a block");
    }
}
