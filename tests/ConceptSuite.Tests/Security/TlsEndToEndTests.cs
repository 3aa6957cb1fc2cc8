using System.Net;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Tests.Gateway;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Xunit.Abstractions;
using GatewayClient = ConceptSuite.Contracts.GatewayService.GatewayServiceClient;

namespace ConceptSuite.Tests.Security;

public sealed class TlsEndToEndTests(ITestOutputHelper output)
{
    const string StageKey = "stage-key-tls-test";
    const string ClientKey = "client-key-tls-test";

    static async Task<StatusCode> CodeOf(Func<Task> call)
    {
        try { await call(); return StatusCode.OK; }
        catch (RpcException e) { return e.StatusCode; }
    }

    static string Https(string address) => "https" + address[address.IndexOf(':')..];

    [Fact]
    public async Task AGatewayAndTwoStagesOverTlsWithKeysRunAWorkflowAndRefusePlaintextKeylessAndUntrustingClients()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cs-tls-" + Guid.NewGuid().ToString("N"));
        var certs = TestCertificates.Create(Path.Combine(dir, "tls"));
        var data = Path.Combine(dir, "data");
        var trusting = new SuiteChannelOptions { Tls = true, CaBundlePath = certs.CaBundle };
        string[] Pem() => [$"--ConceptSuite:Listen:CertificatePath={certs.CertificatePem}", $"--ConceptSuite:Listen:CertificateKeyPath={certs.KeyPem}"];
        string[] Pfx() => [$"--ConceptSuite:Listen:CertificatePath={certs.Pfx}", $"--ConceptSuite:Listen:CertificateKeyPath={certs.PfxPassword}"];
        string[] Stage() => [$"--ConceptSuite:Security:StageKeys:0={StageKey}", $"--ConceptSuite:Security:CaBundlePath={certs.CaBundle}"];
        ServerProcess? embedding = null, discovery = null, gateway = null;
        try
        {
            // Two stages on the shared data directory: one with a PEM certificate, one with PKCS#12.
            embedding = ServerProcess.Launch(["--stages", "embedding", .. Pem(), .. Stage()], dataDir: data, client: trusting);
            discovery = ServerProcess.Launch(["--stages", "discovery", .. Pfx(), .. Stage()], dataDir: data, metrics: false, client: trusting);
            await Task.WhenAll(embedding.WaitServingAsync("embedding"), discovery.WaitServingAsync("discovery"));
            int discoveryPort = new Uri(discovery.Address).Port;
            // The gateway reaches embedding at an https address, discovery and the artifact store by
            // dns:/// (TLS because the gateway serves TLS itself), each with the stage key.
            gateway = ServerProcess.Launch(["--stages", "gateway", .. Pem(), .. Stage(), $"--ConceptSuite:Security:ApiKeys:0={ClientKey}",
                $"--ConceptSuite:Gateway:Endpoints:embedding={Https(embedding.Address)}",
                $"--ConceptSuite:Gateway:Endpoints:discovery=dns:///localhost:{discoveryPort}",
                $"--ConceptSuite:Gateway:Endpoints:store=dns:///localhost:{discoveryPort}"], dataDir: data, metrics: false, client: trusting);
            await gateway.WaitServingAsync("gateway");

            using var client = SuiteChannel.Create(gateway.Address, trusting with { ApiKey = ClientKey });
            // A data set made by the embedding stage, streamed through the discovery stage's transport
            // and stored back in the artifact store (a "dataset": the stage key's right).
            var spec = new WorkflowSpec { Name = "tls" };
            var import = GatewayHarness.Step("shapes", "dataset.import");
            import.Options["source"] = "concept-shapes"; import.Options["limit"] = "48"; import.Options["seed"] = "5";
            spec.Steps.Add([import, GatewayHarness.Step("echo", "transport.echo", "discovery", ("artifact", "$steps.shapes.dataset"))]);
            var events = await GatewayHarness.RunAsync(client, new RunWorkflowRequest { Spec = spec }, TimeSpan.FromSeconds(180));
            var end = events.Last().Finished;
            Assert.True(end.State == WorkflowState.Succeeded, $"{end.State}: {end.Error}\ngateway:\n{gateway.Output}\ndiscovery:\n{discovery.Output}");
            var steps = end.Steps.ToDictionary(s => s.Name);
            var dataset = steps["shapes"].Outputs["dataset"].Id;
            Assert.Equal(dataset, steps["echo"].Outputs.Values.Single().Id);   // every byte survived the TLS round trip
            Assert.Equal(1.0, steps["echo"].Metrics["identical"]);
            output.WriteLine($"workflow over TLS: {events.Count} events, dataset {dataset[..12]}");

            // Refused: plaintext (the TLS port answers no h2c), no key, a stage's port with a client key,
            // a client that does not trust the private CA, a client upload of a stage-produced kind.
            using var plaintext = SuiteChannel.Create(gateway.Address, new SuiteChannelOptions { ApiKey = ClientKey, MaxRetryAttempts = 2 });
            var plain = await CodeOf(async () => await new GatewayClient(plaintext).ListWorkflowsAsync(new ListWorkflowsRequest(), deadline: DateTime.UtcNow.AddSeconds(20)));
            Assert.Contains(plain, new[] { StatusCode.Unavailable, StatusCode.Internal });
            using var keyless = SuiteChannel.Create(gateway.Address, trusting);
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () => await new GatewayClient(keyless).ListWorkflowsAsync(new ListWorkflowsRequest())));
            using var clientOnStage = SuiteChannel.Create(discovery.Address, trusting with { ApiKey = ClientKey });
            Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () =>
                await new ArtifactService.ArtifactServiceClient(clientOnStage).GetArtifactInfoAsync(new GetArtifactInfoRequest { Id = dataset })));
            using var untrusting = SuiteChannel.Create(gateway.Address, new SuiteChannelOptions { Tls = true, ApiKey = ClientKey, MaxRetryAttempts = 2 });
            var distrust = await Assert.ThrowsAsync<RpcException>(async () =>
                await new GatewayClient(untrusting).ListWorkflowsAsync(new ListWorkflowsRequest(), deadline: DateTime.UtcNow.AddSeconds(20)));
            Assert.Contains(distrust.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
            Assert.Contains("SSL", distrust.Status.DebugException?.ToString() ?? distrust.Status.Detail);
            var forged = await Assert.ThrowsAsync<RpcException>(() => GatewayHarness.PutMatrixAsync(client, 4, 4, kind: "dictionary"));
            Assert.Equal(StatusCode.PermissionDenied, forged.StatusCode);

            // Metrics: same certificate, behind a key; the scraper's bearer token is accepted.
            using var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
            {
                using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                roots.ImportFromPemFile(certs.CaBundle);
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                return cert is System.Security.Cryptography.X509Certificates.X509Certificate2 c && chain.Build(c);
            };
            using var http = new HttpClient(handler);
            var metrics = Https(embedding.MetricsUrl) + "/metrics";
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(metrics)).StatusCode);
            using var scrape = new HttpRequestMessage(HttpMethod.Get, metrics);
            scrape.Headers.Authorization = new("Bearer", StageKey);
            var answer = await http.SendAsync(scrape);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Contains("conceptsuite_", await answer.Content.ReadAsStringAsync());
        }
        finally
        {
            gateway?.Dispose();
            discovery?.Dispose();
            embedding?.Dispose();
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
