using System.Diagnostics;
using System.Threading.Channels;
using ConceptSuite.Contracts;

namespace ConceptSuite.Gateway.Steps;

/// <summary>
/// Streams an artifact through a stage's TensorTransport.Echo and stores what comes back: the
/// store's download stream feeds the stage's request stream while the stage's response stream
/// feeds the store's upload, block by block. Because artifact ids are content-derived, the output
/// id equals the input id exactly when every byte survived the round trip (metric "identical").
/// </summary>
public sealed class TransportEchoStep : IStepExecutor
{

    public async Task<StepResult> ExecuteAsync(StepContext ctx)
    {
        var ct = ctx.CancellationToken;
        var id = ctx.Input("artifact");
        var sw = Stopwatch.StartNew();
        var (info, blocks, download) = await ArtifactTransfer.OpenAsync(ctx.StoreChannel, id, null, ct);
        using var _ = download;
        long total = info.Tensors.Sum(t => t.Shape.Count == 0 ? 1 : t.Shape[0]);
        using var echo = new TensorTransport.TensorTransportClient(ctx.Channel).Echo(cancellationToken: ct);
        long sent = 0, bytes = 0, count = 0;
        var send = Task.Run(async () =>
        {
            await foreach (var b in blocks.WithCancellation(ct))
            {
                await echo.RequestStream.WriteAsync(b, ct);
                sent += b.Tensor.Shape.Count == 0 ? 1 : b.Tensor.Shape[0];
                bytes += b.Tensor.Data.Length;
                count++;
                ReceivedBlocks.Release(b);
                if (count % 16 == 0) ctx.Progress(sent, total, "rows", "echo");
            }
            await echo.RequestStream.CompleteAsync();
        }, ct);
        var back = Channel.CreateBounded<TensorBlock>(8);
        var receive = Task.Run(async () =>
        {
            try
            {
                while (await echo.ResponseStream.MoveNext(ct)) await back.Writer.WriteAsync(echo.ResponseStream.Current, ct);
                back.Writer.Complete();
            }
            catch (Exception e) { back.Writer.Complete(e); throw; }
        }, ct);
        var labels = new Dictionary<string, string>(info.Labels) { ["echoed-by"] = ctx.Stage };
        var stored = await ArtifactTransfer.PutAsync(ctx.StoreChannel, info.Ref.Kind, info.MetadataJson, labels, back.Reader.ReadAllAsync(ct), ct);
        await Task.WhenAll(send, receive);
        ctx.Progress(sent, total, "rows", "echo");
        var seconds = sw.Elapsed.TotalSeconds;
        return new StepResult(
            new Dictionary<string, ArtifactRef> { ["artifact"] = stored.Ref },
            new Dictionary<string, double>
            {
                ["bytes"] = bytes, ["blocks"] = count, ["identical"] = stored.Ref.Id == id ? 1 : 0,
                ["mb_per_s"] = seconds > 0 ? bytes / seconds / 1e6 : 0,
            });
    }
}
