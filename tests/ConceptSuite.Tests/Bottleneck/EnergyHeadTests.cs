using ConceptSuite.Bottleneck.Fitting;
using ConceptSuite.Bottleneck.Methods;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Concepts;
using ConceptSuite.Core.Data;
using ConceptSuite.Core.Limits;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;
using N = ConceptSuite.Core.Concepts.ConceptModel.TensorNames;
using S = ConceptSuite.Tests.Bottleneck.SyntheticConcepts;

namespace ConceptSuite.Tests.Bottleneck;

/// <summary>The energy head of ConceptModel (head_kind "energy") and the "ecbm" method (ECBM).</summary>
public class EnergyHeadTests(ITestOutputHelper output)
{
    /// <summary>
    /// Intervening on a random share of each test row's concepts (with their true values) and scoring the
    /// concepts that were NOT intervened on, and the class: one (concept accuracy, class accuracy) per share.
    /// </summary>
    static (double Concepts, double Classes)[] InterventionCurve(ConceptModel model, Tensor x, Tensor y, Tensor truth, double[] shares, ulong seed)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        long n = x.shape[0], k = truth.shape[1];
        var result = new (double, double)[shares.Length];
        for (int s = 0; s < shares.Length; s++)
        {
            var gen = new Generator(seed);
            int m = (int)Math.Round(shares[s] * k);
            // Row i intervenes on the m concepts with the smallest of K seeded uniforms.
            var order = rand(n, k, generator: gen).argsort(1);
            var held = zeros(n, k, dtype: ScalarType.Bool).scatter_(1, order.narrow(1, 0, m), ones(n, m, dtype: ScalarType.Bool));
            Tensor concepts, logits;
            if (m == 0) { var f = model.Forward(x); (concepts, logits) = (f.Concepts, f.Logits); }
            else
            {
                // One Intervene call per distinct set of concepts would be exact but slow; every row's set
                // differs, so intervene on all K with the held rows' truth and the model's own values elsewhere is
                // wrong for an energy head (it would hold them too). Instead, per row group: rows one at a time is
                // too slow; use the model's masked path through per-row values.
                (concepts, logits) = InterveneRows(model, x, held, truth);
            }
            var free = held.logical_not();
            var right = concepts.ge(0.5f).eq(truth.ge(0.5f)).logical_and(free).sum().item<long>();
            result[s] = ((double)right / free.sum().item<long>(), LinearFits.Accuracy(logits, y));
        }
        return result;
    }

    /// <summary>Rows with different intervened sets, grouped by set (the RPC's Intervene takes one set per call).</summary>
    static (Tensor Concepts, Tensor Logits) InterveneRows(ConceptModel model, Tensor x, Tensor held, Tensor truth)
    {
        long n = x.shape[0];
        var concepts = zeros(n, truth.shape[1]);
        var logits = zeros(n, model.ClassCount);
        var keys = held.to(ScalarType.Int64).matmul(pow(2, arange(truth.shape[1], dtype: ScalarType.Int64)));
        var (groups, _, _) = keys.unique();
        foreach (var key in groups.data<long>().ToArray())
        {
            var rows = keys.eq(key).nonzero().squeeze(1);
            var first = held[rows[0]];
            var idx = first.nonzero().squeeze(1).data<long>().Select(i => (int)i).ToList();
            var (c, l) = model.Intervene(x.index_select(0, rows), idx, truth.index_select(0, rows).index_select(1, first.nonzero().squeeze(1)));
            concepts.index_copy_(0, rows, c);
            logits.index_copy_(0, rows, l);
        }
        return (concepts, logits);
    }

    [Fact]
    public async Task EcbmInterventionsCorrectTheOtherConceptsOnConceptShapesWhereCbmStaysFlat()
    {
        var (train, trainData) = await BackboneFeatures.ConceptShapesAsync(600, 1);
        var (test, testData) = await BackboneFeatures.ConceptShapesAsync(300, 2);
        using var _ = trainData;
        using var __ = testData;
        using var scope = NewDisposeScope();
        const string tap = "pool";
        var data = new BottleneckData(train[tap], trainData.Labels, trainData.ClassNames, ConceptShapes.ConceptNames, trainData.ConceptLabels, Seed: 7);
        var (xt, yt, ct) = (test[tap], testData.Labels, testData.ConceptLabels!);
        double[] shares = [0, 0.25, 0.5, 0.75];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var cbm = S.Method("cbm").Fit(data, S.NoProgress, default).Model;
        output.WriteLine($"cbm fit {sw.Elapsed.TotalSeconds:F1}s");
        sw.Restart();
        using var ecbm = S.Method("ecbm").Fit(data, S.NoProgress, default).Model;
        output.WriteLine($"ecbm fit {sw.Elapsed.TotalSeconds:F1}s");
        sw.Restart();
        var a = InterventionCurve(cbm, xt, yt, ct, shares, 3);
        var b = InterventionCurve(ecbm, xt, yt, ct, shares, 3);
        output.WriteLine($"curves {sw.Elapsed.TotalSeconds:F1}s");
        for (int i = 0; i < shares.Length; i++)
            output.WriteLine($"share {shares[i]:F2}: cbm concepts {a[i].Concepts:F4} class {a[i].Classes:F4} | ecbm concepts {b[i].Concepts:F4} class {b[i].Classes:F4}");
        Assert.True(false);
    }
}
