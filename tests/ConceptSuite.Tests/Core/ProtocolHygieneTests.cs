using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Limits;
using ConceptSuite.Tests.Embedding;
using ConceptSuite.Tests.Gateway;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;

namespace ConceptSuite.Tests.Core;

/// <summary>
/// Paged listings (ListArtifacts, ListWorkflows), capped metadata, labels and name maps, the
/// maximum call duration and the idle-stream limit: each hostile case answers a named status.
/// </summary>
public sealed class ProtocolHygieneTests
{
    static async Task<RpcException> Fails(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);

    [Fact]
    public async Task ArtifactAndWorkflowListingsPageInAStableOrderAndRefuseBadPageArguments()
    {
        await using var server = await GatewayHarness.StartAsync();
        var gateway = new GatewayClient(server.Channel);
        var store = new ArtifactService.ArtifactServiceClient(server.Channel);
        var put = new List<ArtifactInfo>();
        for (int i = 0; i < 7; i++) put.Add(await GatewayHarness.PutMatrixAsync(server.Channel, 2, i + 1, kind: "paging"));

        // Three per page, through the gateway's merge and from the store itself: the same order, every artifact once.
        foreach (var list in new Func<ListArtifactsRequest, Task<ListArtifactsResponse>>[]
                 { async r => await gateway.ListArtifactsAsync(r), async r => await store.ListArtifactsAsync(r) })
        {
            var seen = new List<string>();
            var sizes = new List<int>();
            var request = new ListArtifactsRequest { Kind = "paging", PageSize = 3 };
            do
            {
                var page = await list(request);
                sizes.Add(page.Artifacts.Count);
                seen.AddRange(page.Artifacts.Select(a => a.Ref.Id));
                request.PageToken = page.NextPageToken;
            } while (request.PageToken.Length > 0);
            Assert.Equal([3, 3, 1], sizes);
            Assert.Equal(put.Select(a => a.Ref.Id), seen);
        }
        Assert.Equal(7, (await gateway.ListArtifactsAsync(new ListArtifactsRequest { Kind = "paging" })).Artifacts.Count);

        // Workflows: five, two per page, newest first.
        var ids = new List<string>();
        foreach (var a in put.Take(5))
        {
            var spec = new WorkflowSpec { Name = "paging" };
            spec.Steps.Add(GatewayHarness.Step("echo", "transport.echo", "gateway", ("artifact", a.Ref.Id)));
            ids.Add((await GatewayHarness.RunAsync(server.Channel, new RunWorkflowRequest { Spec = spec })).Last().Finished.Id);
        }
        var listed = new List<string>();
        var wr = new ListWorkflowsRequest { PageSize = 2 };
        int pages = 0;
        do
        {
            var page = await gateway.ListWorkflowsAsync(wr);
            pages++;
            listed.AddRange(page.Workflows.Select(w => w.Id));
            wr.PageToken = page.NextPageToken;
        } while (wr.PageToken.Length > 0);
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Reverse(ids), listed);

        // Hostile page arguments: named INVALID_ARGUMENT, before any work.
        foreach (var (call, field) in new (Func<Task>, string)[]
                 {
                     (async () => await gateway.ListArtifactsAsync(new ListArtifactsRequest { PageSize = -1 }), "page_size"),
                     (async () => await store.ListArtifactsAsync(new ListArtifactsRequest { PageSize = 1001 }), "page_size"),
                     (async () => await gateway.ListArtifactsAsync(new ListArtifactsRequest { PageToken = "not a token" }), "page_token"),
                     (async () => await store.ListArtifactsAsync(new ListArtifactsRequest { PageToken = new string('A', 5000) }), "page_token"),
                     (async () => await gateway.ListWorkflowsAsync(new ListWorkflowsRequest { PageSize = 501 }), "page_size"),
                     (async () => await gateway.ListWorkflowsAsync(new ListWorkflowsRequest { PageToken = Paging.Token("x", "") + "==" }), "page_token"),
                     (async () => await gateway.ListWorkflowsAsync(new ListWorkflowsRequest { State = (WorkflowState)99 }), "state"),
                 })
        {
            var e = await Fails(call);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.StartsWith(field + ":", e.Status.Detail);
        }
    }

    [Fact]
    public async Task OversizedMetadataLabelsAndNameMapsAreRefusedNamingTheField()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:MaxMetadataJsonBytes", "4096"));
        var store = new ArtifactService.ArtifactServiceClient(server.Channel);
        async Task<RpcException> Put(PutArtifactHeader header) => await Fails(async () =>
        {
            using var call = store.PutArtifact();
            await call.RequestStream.WriteAsync(new PutArtifactRequest { Header = header });
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        });
        var cases = new (PutArtifactHeader Header, string Field)[]
        {
            (new() { Kind = "activations", MetadataJson = "{\"a\":\"" + new string('x', 5000) + "\"}" }, "header.metadata_json"),
            (new() { Kind = "activations", MetadataJson = "[1, 2]" }, "header.metadata_json"),
            (new() { Kind = "activations", MetadataJson = "{\"a\":" }, "header.metadata_json"),
            (new() { Kind = "activations", MetadataJson = string.Concat(Enumerable.Repeat("{\"a\":", 40)) + "1" + new string('}', 40) }, "header.metadata_json"),
            (new() { Kind = "activations", Labels = { Enumerable.Range(0, 65).ToDictionary(i => $"k{i}", i => "v") } }, "header.labels"),
            (new() { Kind = "activations", Labels = { ["note"] = new string('v', 2000) } }, "header.labels[note]"),
        };
        foreach (var (header, field) in cases)
        {
            var e = await Put(header);
            Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
            Assert.StartsWith(field + ":", e.Status.Detail);
        }

        var embedding = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var names = await Fails(() => EmbedClient.ImportAsync(embedding,
            new ImportDatasetHeader { Source = "concept-shapes", Limit = 4, ClassNames = { "ok", new string('n', 300) } }));
        Assert.Equal(StatusCode.InvalidArgument, names.StatusCode);
        Assert.StartsWith("header.class_names[1]:", names.Status.Detail);
        var many = await Fails(() => EmbedClient.ImportAsync(embedding,
            new ImportDatasetHeader { Source = "concept-shapes", Limit = 4, ConceptNames = { Enumerable.Range(0, 70_000).Select(i => $"c{i}") } }));
        Assert.Equal(StatusCode.InvalidArgument, many.StatusCode);
        Assert.StartsWith("header.concept_names:", many.Status.Detail);
    }

    [Fact]
    public async Task AStreamWithNoMessageForTheIdleLimitAndACallPastTheMaximumDurationEndDeadlineExceeded()
    {
        // The real binary over HTTP/2: a call ended by its deadline while the client still sends is
        // reset after its trailers, which the in-memory test server reports as a failed call instead.
        using var server = await ServerProcess.StartAsync(null, "core", "", "--ConceptSuite:IdleStreamSeconds=2", "--ConceptSuite:MaxCallSeconds=6");
        var store = new ArtifactService.ArtifactServiceClient(server.Channel);
        var header = new PutArtifactRequest { Header = new PutArtifactHeader { Kind = "activations" } };
        var block = HostTensor.FromFloats([1f, 2f], 1, 2).ToBlocks("x", 1 << 20).Single();
        var rows = HostTensor.FromFloats(new float[240], 120, 2).ToBlocks("x", 8).ToList(); // one row per block

        // Idle: the header, then silence.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using (var call = store.PutArtifact())
        {
            await call.RequestStream.WriteAsync(header);
            var e = await Fails(async () => await call.ResponseAsync);
            Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
            Assert.Contains("request stream: no message for 2 s", e.Status.Detail);
        }
        Assert.InRange(sw.Elapsed.TotalSeconds, 1.9, 6);

        // Never idle (a row every 100 ms, 20 times inside the idle limit even on a loaded machine),
        // but past the maximum duration (no client deadline): the server's deadline ends it.
        sw.Restart();
        using (var call = store.PutArtifact())
        {
            await call.RequestStream.WriteAsync(header);
            try
            {
                for (int i = 0; i < rows.Count; i++)
                {
                    await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = rows[i] });
                    await Task.Delay(100);
                }
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception) { /* writing into a call the server ended */ }
            var e = await Fails(async () => await call.ResponseAsync);
            Assert.True(e.StatusCode == StatusCode.DeadlineExceeded, $"{e.StatusCode}: {e.Status.Detail}");
            Assert.DoesNotContain("no message for", e.Status.Detail);
        }
        Assert.InRange(sw.Elapsed.TotalSeconds, 5.5, 11);

        // A shorter client deadline is kept; a well-behaved call still succeeds; the server keeps serving.
        var quick = await Fails(async () => await store.ListArtifactsAsync(new ListArtifactsRequest(), deadline: DateTime.UtcNow.AddTicks(1)));
        Assert.Equal(StatusCode.DeadlineExceeded, quick.StatusCode);
        using (var call = store.PutArtifact())
        {
            await call.RequestStream.WriteAsync(header);
            await call.RequestStream.WriteAsync(new PutArtifactRequest { Block = block });
            await call.RequestStream.CompleteAsync();
            Assert.Equal(64, (await call.ResponseAsync).Ref.Id.Length);
        }
    }

    [Theory]
    [InlineData("5S", 5_000)]
    [InlineData("250m", 250)]
    [InlineData("2M", 120_000)]
    [InlineData("1H", 3_600_000)]
    [InlineData("7000u", 7)]
    [InlineData("99999999n", 100)]
    public void GrpcTimeoutHeadersParse(string header, double ms) =>
        Assert.Equal(ms, Math.Round(CallLimits.ParseTimeout(header)!.Value.TotalMilliseconds));

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("123456789S")]
    [InlineData("-5S")]
    [InlineData("5x")]
    public void MalformedGrpcTimeoutHeadersReadAsAbsent(string header) => Assert.Null(CallLimits.ParseTimeout(header));

    [Fact]
    public void TimeoutsFormatWithinEightDigits()
    {
        Assert.Equal("86400S", CallLimits.FormatTimeout(TimeSpan.FromDays(1)));
        Assert.Equal("1666667M", CallLimits.FormatTimeout(TimeSpan.FromSeconds(100_000_000)));
        Assert.Equal(TimeSpan.FromDays(3650), CallLimits.ParseTimeout(CallLimits.FormatTimeout(TimeSpan.FromDays(3650))));
    }
}
