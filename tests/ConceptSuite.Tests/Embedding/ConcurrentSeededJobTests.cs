using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Tests.Embedding;

/// <summary>
/// Seeded jobs draw from generators of their own (<see cref="ConceptSuite.Core.Tensors.TorchRandom"/>),
/// so two of them running at once on one server (MaxConcurrentJobs = 2) train exactly the weights
/// each trains alone.
/// </summary>
public sealed class ConcurrentSeededJobTests
{
    static TrainBackboneRequest Request(string dataset, string architecture, long seed) => new()
    {
        Dataset = new ArtifactRef { Id = dataset }, Architecture = architecture, Epochs = 2, BatchSize = 32, Limit = 300, Seed = seed,
    };

    /// <summary>Trains the requests on a fresh server, all at once or one after another; returns each backbone's tensors.</summary>
    static async Task<List<Dictionary<string, float[]>>> TrainAsync(bool together, params (string Architecture, long Seed)[] jobs)
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:MaxConcurrentJobs", "2"));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var store = server.Services.GetRequiredService<ArtifactStore>();
        var mnist = await EmbedClient.ImportAsync(client, new ImportDatasetHeader { Source = "mnist:test", Limit = 300 });
        async Task<ArtifactInfo> Train((string Architecture, long Seed) j) =>
            (await EmbedClient.DrainAsync(client.TrainBackbone(Request(mnist.Ref.Id, j.Architecture, j.Seed)))).Last().Result.Artifact;
        var infos = new List<ArtifactInfo>();
        if (together) infos.AddRange(await Task.WhenAll(jobs.Select(j => Task.Run(() => Train(j)))));
        else foreach (var j in jobs) infos.Add(await Train(j));
        return infos.Select(info =>
        {
            using var reader = store.Open(info.Ref.Id);
            return info.Tensors.ToDictionary(t => t.Name, t =>
            {
                using var x = reader.Read(t.Name);
                return x.to_type(TorchSharp.torch.ScalarType.Float32).contiguous().data<float>().ToArray();
            });
        }).ToList();
    }

    static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();

    [Fact]
    public async Task TwoSeededTrainingJobsAtOnceTrainExactlyWhatEachTrainsAlone()
    {
        (string, long)[] jobs = [("cnn", 5), ("cnn", 6), ("vit", 5)];
        var alone = await TrainAsync(false, jobs);
        var together = await TrainAsync(true, jobs);
        // Different seeds give different networks (weights differ by ~0.1), so a mix-up of draws between the jobs would show.
        Assert.True(MaxDifference(alone[0]["fc.weight"], alone[1]["fc.weight"]) > 0.01);
        for (int i = 0; i < jobs.Length; i++)
        {
            Assert.Equal(alone[i].Keys.Order(), together[i].Keys.Order());
            // Bitwise when the job threads' OpenMP teams are the same size (the test alone: measured 0).
            // Tests that train with one OpenMP thread give their pool thread its count back; a team
            // size changed under a job changes only the order of float sums, by far less than this bound.
            foreach (var (name, w) in alone[i])
                Assert.True(MaxDifference(w, together[i][name]) <= 1e-4, $"{jobs[i]}: tensor {name} differs by {MaxDifference(w, together[i][name])} when trained alongside the others");
        }
    }
}
