using ConceptSuite.Core.Tensors;
using ConceptSuite.Embedding.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ConceptSuite.Tests.Core;

/// <summary>
/// A training run stopped after k steps and resumed from its weights and <see cref="OptimizerCheckpoint"/>
/// (what the backbone and generator training jobs checkpoint) ends bit for bit where the run that
/// never stopped does; resumed from the weights alone (Adam's moments restarting), it does not.
/// </summary>
public sealed class OptimizerCheckpointTests
{
    const int Steps = 4, StopAt = 2;

    static Tensor Batch(int step, long rows = 8)
    {
        using var g = new Generator((ulong)(100 + step));
        return randn([rows, 1, 28, 28], generator: g);
    }

    static Tensor Labels(int step)
    {
        using var g = new Generator((ulong)(200 + step));
        return randint(0, 10, [8], generator: g);
    }

    static void Train(SmallCnn model, OptimizerHelper opt, int from, int to)
    {
        model.train();
        for (int s = from; s < to; s++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.call(Batch(s)), Labels(s));
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
    }

    static Dictionary<string, float[]> Weights(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(ScalarType.Float32).contiguous().data<float>().ToArray());

    [Theory]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void ATrainingResumedWithItsOptimizerStateEqualsTheUninterruptedOneBitForBit(string kind)
    {
        OptimizerHelper Make(SmallCnn m) => kind == "adam" ? optim.Adam(m.parameters(), 1e-2) : optim.AdamW(m.parameters(), 1e-2, weight_decay: 0.01);

        using var whole = TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), 5);
        using (var opt = Make(whole)) Train(whole, opt, 0, Steps);

        // Stopped after StopAt steps: the checkpoint holds the weights and the optimizer state.
        Dictionary<string, Tensor> weights;
        Tensor state;
        using (var first = TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), 5))
        using (var opt = Make(first))
        {
            Train(first, opt, 0, StopAt);
            weights = first.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            state = OptimizerCheckpoint.Save(opt);
        }

        // A new process: the model built anew, the weights and the optimizer restored, the rest trained.
        using var resumed = TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), 5);
        using (no_grad()) foreach (var (name, t) in resumed.state_dict()) t.copy_(weights[name]);
        using (var opt = Make(resumed))
        {
            OptimizerCheckpoint.Restore(opt, state);
            Train(resumed, opt, StopAt, Steps);
        }
        // Without the optimizer state, the same weights train to other values.
        using var restarted = TorchRandom.Initialize(new SmallCnn(1, 28, 28, 10), 5);
        using (no_grad()) foreach (var (name, t) in restarted.state_dict()) t.copy_(weights[name]);
        using (var opt = Make(restarted)) Train(restarted, opt, StopAt, Steps);

        var (w, r, x) = (Weights(whole), Weights(resumed), Weights(restarted));
        foreach (var k in w.Keys) Assert.True(w[k].SequenceEqual(r[k]), $"{kind}: {k} differs after the resume");
        Assert.Contains(w.Keys, k => !w[k].SequenceEqual(x[k]));
        foreach (var t in weights.Values) t.Dispose();
        state.Dispose();
    }

    [Fact]
    public void AnOptimizerStateOfOtherParametersIsRefused()
    {
        using var small = TorchRandom.Initialize(nn.Linear(4, 2), 1);
        using var other = TorchRandom.Initialize(nn.Linear(3, 2), 1);
        using var a = optim.Adam(small.parameters(), 1e-2);
        using var b = optim.Adam(other.parameters(), 1e-2);
        using var state = OptimizerCheckpoint.Save(a);
        Assert.ThrowsAny<Exception>(() => OptimizerCheckpoint.Restore(b, state));
        using var junk = tensor(new byte[] { 1, 2, 3 });
        Assert.Throws<InvalidDataException>(() => OptimizerCheckpoint.Restore(b, junk));
    }
}
