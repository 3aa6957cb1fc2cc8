using System.Security.Cryptography;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace ConceptSuite.Core.Transport;

/// <summary>Core's own tensor path: echo and sink, validating every block (see tensor.proto).</summary>
public sealed class TensorTransportService(IOptions<SuiteOptions> options) : TensorTransport.TensorTransportBase
{
    TensorStreamRules Rules => new() { MaxTotalBytes = options.Value.MaxStreamBytes, RejectEmpty = false };

    public override async Task Echo(IAsyncStreamReader<TensorBlock> requestStream, IServerStreamWriter<TensorBlock> responseStream, ServerCallContext context)
    {
        var validator = new TensorStreamValidator(Rules);
        var ct = context.CancellationToken;
        while (await requestStream.MoveNext(ct))
        {
            validator.Accept(requestStream.Current);
            await responseStream.WriteAsync(requestStream.Current, ct);
        }
        validator.Complete();
    }

    public override async Task<TensorStreamSummary> Sink(IAsyncStreamReader<TensorBlock> requestStream, ServerCallContext context)
    {
        var validator = new TensorStreamValidator(Rules);
        var ct = context.CancellationToken;
        bool hash = context.RequestHeaders.GetValue("x-sha256") == "1";
        using var sha = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        long blocks = 0;
        while (await requestStream.MoveNext(ct))
        {
            var b = requestStream.Current;
            validator.Accept(b);
            sha?.AppendData(b.Tensor.Data.Span);
            blocks++;
        }
        validator.Complete();
        var summary = new TensorStreamSummary { Bytes = validator.TotalBytes, Blocks = blocks };
        if (validator.Names.Count > 0)
        {
            var name = validator.Names.First();
            summary.Rows = validator.Rows(name);
            summary.Shape.Add(validator.Shape(name));
            summary.Dtype = validator.DTypeOf(name);
        }
        if (sha is not null) summary.Sha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
        return summary;
    }
}
