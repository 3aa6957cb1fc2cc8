using ConceptSuite.Contracts;
using Google.Protobuf;

namespace ConceptSuite.Core.Streaming;

/// <summary>
/// A file uploaded as byte chunks after a header that declares its size (RegisterModel,
/// ImportDictionary): the caller checks the declared size against its caps before calling; the
/// chunks are counted as they come, so a stream carrying more than declared is refused at the
/// first byte too many, and one that ends early (a truncated upload) when it ends. Both are
/// INVALID_ARGUMENT naming <c>chunk</c>.
/// </summary>
public static class DeclaredBytes
{
    public static async Task<byte[]> ReadAsync(IAsyncEnumerable<ByteString> chunks, long declared, string sizeField, CancellationToken ct)
    {
        if (declared <= 0 || declared > Array.MaxLength) throw new InvalidInputException(sizeField, $"must be in [1, {Array.MaxLength}], got {declared}");
        var bytes = GC.AllocateUninitializedArray<byte>((int)declared);
        long received = 0;
        await foreach (var chunk in chunks.WithCancellation(ct))
        {
            if (received + chunk.Length > declared)
                throw new InvalidInputException("chunk", $"the stream carries more than {sizeField} = {declared} bytes");
            chunk.Span.CopyTo(bytes.AsSpan((int)received));
            received += chunk.Length;
        }
        if (received < declared)
            throw new InvalidInputException("chunk", $"the stream ended after {received} of {declared} bytes ({sizeField}): a truncated upload");
        return bytes;
    }
}
