using Microsoft.Extensions.Configuration;
using ConceptSuite.Core.Hosting;
using YamlDotNet.RepresentationModel;

namespace ConceptSuite.Tests.Deploy;

/// <summary>
/// Renders deploy/k8s/overlays/{cpu,gpu} with kubectl kustomize and checks the result against
/// the server: one Deployment, headless Service and HPA per stage, gRPC health probes on the
/// stage's own health service, resource requests, configuration keys and ports that the server
/// binds, and GPUs where the overlay promises them.
/// </summary>
public class KubernetesManifestTests
{
    sealed record Rendered(IReadOnlyList<YamlMappingNode> All)
    {
        public YamlMappingNode? Find(string kind, string name) =>
            All.FirstOrDefault(r => r.Str("kind") == kind && r.Str("metadata", "name") == name);
        public IEnumerable<YamlMappingNode> OfKind(string kind) => All.Where(r => r.Str("kind") == kind);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("gpu")]
    public void EveryStageHasDeploymentServiceProbesRequestsAndAutoscaler(string overlay)
    {
        var r = new Rendered(DeployAssets.RenderOverlay(overlay));
        var configMap = Assert.Single(r.OfKind("ConfigMap"));
        var settings = DeployAssets.BindServerSettings(configMap.Map("data"));
        var grpc = new Uri(settings.Listen.Grpc);
        var metrics = new Uri(settings.Listen.Metrics);
        Assert.Equal("0.0.0.0", grpc.Host);   // reachable from other pods
        Assert.Equal("0.0.0.0", metrics.Host);
        Assert.NotEqual(grpc.Port, metrics.Port);
        // TLS between every pair of processes: a certificate, the CA the gateway checks stages against, TLS to dns:/// stages.
        Assert.Equal("https", grpc.Scheme);
        Assert.Equal("https", metrics.Scheme);
        Assert.StartsWith("/etc/conceptsuite/tls/", settings.Listen.CertificatePath);
        Assert.StartsWith("/etc/conceptsuite/tls/", settings.Listen.CertificateKeyPath);
        Assert.StartsWith("/etc/conceptsuite/tls/", settings.Security.CaBundlePath);
        Assert.True(settings.Gateway.StageTls);
        // No key in the ConfigMap, and never --allow-unauthenticated: keys come from Secrets.
        Assert.False(settings.Security.AllowUnauthenticated);
        Assert.Empty(settings.Security.ApiKeys.Concat(settings.Security.StageKeys));
        var pvc = Assert.Single(r.OfKind("PersistentVolumeClaim"));
        Assert.Contains("ReadWriteMany", pvc.Seq("spec", "accessModes").Select(n => n.ToString()));

        Assert.Equal(DeployAssets.AllStages.Count, r.OfKind("Deployment").Count());
        foreach (var stage in DeployAssets.AllStages)
        {
            var deployment = r.Find("Deployment", stage) ?? throw new Xunit.Sdk.XunitException($"{overlay}: no Deployment {stage}");
            var pod = deployment.At("spec", "template")!;
            var container = Assert.Single(pod.Seq("spec", "containers"));
            Assert.Equal(["--stages", stage], container.Seq("args").Select(n => n.ToString()));
            Assert.Equal(configMap.Str("metadata", "name"), container.Str("envFrom", 0, "configMapRef", "name"));
            Assert.StartsWith("conceptsuite/server:" + (overlay == "gpu" ? "cuda" : "cpu"), container.Str("image"));

            var ports = container.Seq("ports").ToDictionary(p => p.Str("name")!, p => int.Parse(p.Str("containerPort")!));
            Assert.Equal(grpc.Port, ports["grpc"]);
            Assert.Equal(metrics.Port, ports["metrics"]);
            Assert.Equal(metrics.Port.ToString(), pod.Str("metadata", "annotations", "prometheus.io/port"));

            // TLS on the gRPC port: the server's own probe runs in the container (the kubelet's grpc probe is plaintext).
            foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
            {
                Assert.True(container.At(probe) is not null, $"{overlay}/{stage}: no {probe}");
                Assert.Equal(["dotnet", "/app/conceptsuite-server.dll", "--probe", "--stages", stage], container.Seq(probe, "exec", "command").Select(n => n.ToString()));
            }
            // Keys: every pod takes the stage key; only the gateway takes client keys. TLS files from the Secret.
            var secrets = container.Seq("envFrom").Select(e => e.Str("secretRef", "name")).Where(n => n is not null).ToList();
            Assert.Equal(stage == "gateway" ? ["conceptsuite-stage-key", "conceptsuite-client-keys"] : ["conceptsuite-stage-key"], secrets);
            var tlsMount = container.Seq("volumeMounts").Single(m => settings.Listen.CertificatePath.StartsWith(m.Str("mountPath")! + "/"));
            Assert.Equal("conceptsuite-tls", pod.Seq("spec", "volumes").Single(v => v.Str("name") == tlsMount.Str("name")).Str("secret", "secretName"));
            Assert.Equal("https", pod.Str("metadata", "annotations", "prometheus.io/scheme"));

            var requests = container.Map("resources", "requests");
            Assert.True(requests.ContainsKey("cpu") && requests.ContainsKey("memory"), $"{overlay}/{stage}: requests {string.Join(",", requests.Keys)}");
            Assert.True(container.Map("resources", "limits").ContainsKey("memory"), $"{overlay}/{stage}: no memory limit");

            var dataMount = container.Seq("volumeMounts").Single(m => m.Str("mountPath") == settings.Suite.DataDir);
            var dataVolume = pod.Seq("spec", "volumes").Single(v => v.Str("name") == dataMount.Str("name"));
            Assert.Equal(pvc.Str("metadata", "name"), dataVolume.Str("persistentVolumeClaim", "claimName"));
            Assert.Equal("true", pod.Str("spec", "securityContext", "runAsNonRoot"));

            var labels = pod.Map("metadata", "labels");
            var service = r.Find("Service", stage) ?? throw new Xunit.Sdk.XunitException($"{overlay}: no Service {stage}");
            Assert.Equal("None", service.Str("spec", "clusterIP"));
            foreach (var (k, v) in service.Map("spec", "selector")) Assert.Equal(v, labels.GetValueOrDefault(k));
            foreach (var (k, v) in deployment.Map("spec", "selector", "matchLabels")) Assert.Equal(v, labels.GetValueOrDefault(k));
            var servicePorts = service.Seq("spec", "ports").ToDictionary(p => p.Str("name")!, p => p);
            Assert.Equal(grpc.Port.ToString(), servicePorts["grpc"].Str("port"));
            Assert.Equal("grpc", servicePorts["grpc"].Str("targetPort"));

            var hpa = r.Find("HorizontalPodAutoscaler", stage) ?? throw new Xunit.Sdk.XunitException($"{overlay}: no HPA {stage}");
            Assert.Equal("autoscaling/v2", hpa.Str("apiVersion"));
            Assert.Equal("Deployment", hpa.Str("spec", "scaleTargetRef", "kind"));
            Assert.Equal(stage, hpa.Str("spec", "scaleTargetRef", "name"));
            var metric = Assert.Single(hpa.Seq("spec", "metrics"));
            Assert.Equal("Pods", metric.Str("type"));
            Assert.Equal(DeployAssets.InFlightSeries, metric.Str("pods", "metric", "name"));
            Assert.Equal(stage, metric.Str("pods", "metric", "selector", "matchLabels", SuiteMetrics.Stage(stage).Key));
            Assert.True(double.Parse(metric.Str("pods", "target", "averageValue")!) > 0);
            Assert.True(int.Parse(hpa.Str("spec", "maxReplicas")!) > int.Parse(hpa.Str("spec", "minReplicas")!));

            if (stage != "gateway")
            {
                Assert.True(settings.Endpoints.TryGetValue(stage, out var endpoint), $"{overlay}: gateway has no endpoint for {stage}");
                Assert.Equal($"dns:///{stage}:{grpc.Port}", endpoint);
            }
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("gpu")]
    public void NetworkPoliciesAdmitOnlyTheGatewayToStagePortsAndOnlyTheScraperToMetricsPorts(string overlay)
    {
        var r = new Rendered(DeployAssets.RenderOverlay(overlay));
        var settings = DeployAssets.BindServerSettings(Assert.Single(r.OfKind("ConfigMap")).Map("data"));
        string grpcPort = new Uri(settings.Listen.Grpc).Port.ToString(), metricsPort = new Uri(settings.Listen.Metrics).Port.ToString();
        var policies = r.OfKind("NetworkPolicy").ToList();
        foreach (var stage in DeployAssets.AllStages)
        {
            var labels = r.Find("Deployment", stage)!.Map("spec", "template", "metadata", "labels");
            // Exactly one policy selects the stage's pods.
            var policy = Assert.Single(policies, p => Selects(p.At("spec", "podSelector")!, labels));
            Assert.Equal(["Ingress"], policy.Seq("spec", "policyTypes").Select(n => n.ToString()));
            var rules = policy.Seq("spec", "ingress").ToList();
            var grpcRules = rules.Where(x => x.Seq("ports").Any(p => p.Str("port") == grpcPort)).ToList();
            var metricsRule = Assert.Single(rules, x => x.Seq("ports").Any(p => p.Str("port") == metricsPort));
            Assert.Equal(metricsPort, Assert.Single(metricsRule.Seq("ports")).Str("port"));
            var scraper = Assert.Single(metricsRule.Seq("from"));
            Assert.Equal("monitoring", scraper.Str("namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"));
            Assert.Equal("prometheus", scraper.Str("podSelector", "matchLabels", "app.kubernetes.io/name"));
            var grpcRule = Assert.Single(grpcRules);
            Assert.Equal(grpcPort, Assert.Single(grpcRule.Seq("ports")).Str("port"));
            if (stage == "gateway") Assert.Null(grpcRule.At("from"));   // the entry point
            else
            {
                var from = Assert.Single(grpcRule.Seq("from"));
                Assert.Null(from.At("namespaceSelector"));                // this namespace only
                var gatewayLabels = r.Find("Deployment", "gateway")!.Map("spec", "template", "metadata", "labels");
                Assert.True(Selects(from.At("podSelector")!, gatewayLabels), $"{stage}: the gateway may not reach it");
                foreach (var other in DeployAssets.AllStages.Where(s => s != "gateway"))
                    Assert.False(Selects(from.At("podSelector")!, r.Find("Deployment", other)!.Map("spec", "template", "metadata", "labels")), $"{stage}: {other} may reach it");
            }
        }
    }

    /// <summary>Whether a label selector (matchLabels, matchExpressions with In) selects pods with <paramref name="labels"/>.</summary>
    static bool Selects(YamlNode selector, IReadOnlyDictionary<string, string?> labels)
    {
        foreach (var (k, v) in selector.Map("matchLabels")) if (labels.GetValueOrDefault(k) != v) return false;
        foreach (var e in selector.Seq("matchExpressions"))
        {
            Assert.Equal("In", e.Str("operator"));
            if (!e.Seq("values").Select(n => n.ToString()).Contains(labels.GetValueOrDefault(e.Str("key")!))) return false;
        }
        return true;
    }

    [Fact]
    public void GpuOverlayRequestsOneGpuPerTensorStageOnGpuNodes()
    {
        var r = new Rendered(DeployAssets.RenderOverlay("gpu"));
        foreach (var stage in DeployAssets.AllStages)
        {
            var pod = r.Find("Deployment", stage).At("spec", "template", "spec")!;
            var limits = pod.Map("containers", 0, "resources", "limits");
            if (DeployAssets.GpuStages.Contains(stage))
            {
                Assert.Equal("1", limits.GetValueOrDefault("nvidia.com/gpu"));
                Assert.Equal("true", pod.Str("nodeSelector", "nvidia.com/gpu.present"));
                Assert.Contains(pod.Seq("tolerations"), t => t.Str("key") == "nvidia.com/gpu" && t.Str("effect") == "NoSchedule");
            }
            else
            {
                Assert.False(limits.ContainsKey("nvidia.com/gpu"), $"{stage} should not hold a GPU");
                Assert.Null(pod.At("nodeSelector"));
            }
        }
        var settings = DeployAssets.BindServerSettings(Assert.Single(r.OfKind("ConfigMap")).Map("data"));
        Assert.Equal("cuda", settings.Suite.Device);
        var gatewayEnv = r.Find("Deployment", "gateway").Seq("spec", "template", "spec", "containers", 0, "env");
        Assert.Contains(gatewayEnv, e => e.Str("name") == "ConceptSuite__Device" && e.Str("value") == "cpu");
    }

    /// <summary>
    /// Gateway replicas share workflow state in PostgreSQL: the gateway (only) reads the connection
    /// string from an optional Secret, into the option the server binds.
    /// </summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("gpu")]
    public void TheGatewayReadsItsPostgresConnectionStringFromAnOptionalSecret(string overlay)
    {
        var r = new Rendered(DeployAssets.RenderOverlay(overlay));
        const string name = "ConceptSuite__Gateway__PostgresConnectionString";
        var env = r.Find("Deployment", "gateway").Seq("spec", "template", "spec", "containers", 0, "env");
        var entry = Assert.Single(env, e => e.Str("name") == name);
        Assert.Equal("conceptsuite-postgres", entry.Str("valueFrom", "secretKeyRef", "name"));
        Assert.Equal("connection-string", entry.Str("valueFrom", "secretKeyRef", "key"));
        Assert.Equal("true", entry.Str("valueFrom", "secretKeyRef", "optional"));
        foreach (var stage in DeployAssets.AllStages.Where(s => s != "gateway"))
            Assert.DoesNotContain(r.Find("Deployment", stage).Seq("spec", "template", "spec", "containers", 0, "env"), e => e.Str("name") == name);
        // The name binds to the gateway's option.
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection([new(name.Replace("__", ":"), "Host=db")]).Build();
        var bound = new ConceptSuite.Gateway.GatewayOptions();
        config.GetSection(ConceptSuite.Gateway.GatewayOptions.Section).Bind(bound, b => b.ErrorOnUnknownConfiguration = true);
        Assert.Equal("Host=db", bound.PostgresConnectionString);
    }

    [Fact]
    public void CpuOverlayRequestsNoGpu()
    {
        var r = new Rendered(DeployAssets.RenderOverlay("cpu"));
        foreach (var d in r.OfKind("Deployment"))
        {
            Assert.False(d.Map("spec", "template", "spec", "containers", 0, "resources", "limits").ContainsKey("nvidia.com/gpu"));
            Assert.Null(d.At("spec", "template", "spec", "tolerations"));
        }
        Assert.Equal("cpu", DeployAssets.BindServerSettings(Assert.Single(r.OfKind("ConfigMap")).Map("data")).Suite.Device);
    }

    [Fact]
    public void EachStageFolderInstantiatesTheStageComponentAsExactlyItsThreeObjects()
    {
        var stagesDir = Path.Combine(DeployAssets.RepoRoot, "deploy", "k8s", "base", "stages");
        var folders = Directory.GetDirectories(stagesDir).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(DeployAssets.AllStages.Order(), folders);
        foreach (var stage in folders)
        {
            var (code, output, err) = DeployAssets.Run("kubectl", ["kustomize", Path.Combine(stagesDir, stage!)]);
            Assert.True(code == 0, $"kubectl kustomize stages/{stage} failed ({code}): {err}");
            var objects = DeployAssets.ParseDocuments(output);
            // The StageValues are build-time input (local-config): only the component's objects come out, named after the stage.
            Assert.Equal(["Deployment", "HorizontalPodAutoscaler", "Service"], objects.Select(o => o.Str("kind")!).Order());
            Assert.All(objects, o => Assert.Equal(stage, o.Str("metadata", "name")));
            Assert.DoesNotContain("name: stage", output);
        }
    }

    [Fact]
    public void AdapterRuleServesTheSeriesTheAutoscalersRead()
    {
        var text = File.ReadAllText(Path.Combine(DeployAssets.RepoRoot, "deploy", "k8s", "monitoring", "prometheus-adapter-values.yaml"));
        var rule = Assert.Single(Assert.Single(DeployAssets.ParseDocuments(text)).Seq("rules", "custom"));
        var series = DeployAssets.InFlightSeries;
        Assert.StartsWith(series + "{", rule.Str("seriesQuery"));
        Assert.Equal(series, rule.Str("name", "as"));
        Assert.Equal("pod", rule.Str("resources", "overrides", "pod", "resource"));
        Assert.Contains("<<.LabelMatchers>>", rule.Str("metricsQuery"));
        var monitor = Assert.Single(DeployAssets.ParseDocuments(File.ReadAllText(Path.Combine(DeployAssets.RepoRoot, "deploy", "k8s", "monitoring", "podmonitor.yaml"))));
        Assert.Equal("metrics", monitor.Str("spec", "podMetricsEndpoints", 0, "port"));
        // The scrape is TLS, checked against the suite's CA, with a metrics-only key as its bearer token.
        Assert.Equal("https", monitor.Str("spec", "podMetricsEndpoints", 0, "scheme"));
        Assert.Equal("ca.crt", monitor.Str("spec", "podMetricsEndpoints", 0, "tlsConfig", "ca", "secret", "key"));
        Assert.Equal("conceptsuite-metrics-key", monitor.Str("spec", "podMetricsEndpoints", 0, "authorization", "credentials", "name"));
        Assert.Equal("conceptsuite", monitor.Str("spec", "selector", "matchLabels", "app.kubernetes.io/name"));
    }
}
