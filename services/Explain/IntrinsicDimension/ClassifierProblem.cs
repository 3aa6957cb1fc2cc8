using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// A small classifier on fixed features: softmax regression (hidden = 0) or a one-hidden-layer
/// ReLU network, cross-entropy loss, accuracy on held-out rows as performance. θ is the flat
/// concatenation of its weights and biases.
/// </summary>
public sealed class ClassifierProblem : ISubspaceProblem
{
    readonly Tensor _xTrain, _yTrain, _xTest, _yTest;
    readonly long _f, _h, _c;

    public ClassifierProblem(Tensor features, long[] labels, int hidden = 0, double testFraction = 0.25, long seed = 0)
    {
        var x = ExplainTensors.Matrix(features, "features", 4);
        if (labels.Length != x.shape[0]) throw new Contracts.InvalidInputException("labels", $"has {labels.Length} entries for {x.shape[0]} samples");
        if (labels.Any(l => l < 0)) throw new Contracts.InvalidInputException("labels", "must be non-negative class indices");
        _c = labels.Max() + 1;
        if (_c < 2) throw new Contracts.InvalidInputException("labels", "need at least 2 classes");
        _f = x.shape[1]; _h = hidden;
        var g = new torch.Generator((ulong)seed);
        var perm = torch.randperm(x.shape[0], generator: g);
        long test = Math.Max(1, (long)(x.shape[0] * testFraction));
        var y = torch.tensor(labels);
        _xTest = x.index_select(0, perm.narrow(0, 0, test)); _yTest = y.index_select(0, perm.narrow(0, 0, test));
        _xTrain = x.index_select(0, perm.narrow(0, test, x.shape[0] - test)); _yTrain = y.index_select(0, perm.narrow(0, test, x.shape[0] - test));
        long d = hidden > 0 ? _f * _h + _h + _h * _c + _c : _f * _c + _c;
        // He-style scale per layer, zero biases.
        var theta = torch.zeros(d, ScalarType.Float64);
        if (hidden > 0)
        {
            theta[TensorIndex.Slice(0, _f * _h)] = torch.randn(_f * _h, ScalarType.Float64, generator: g) * Math.Sqrt(2.0 / _f);
            theta[TensorIndex.Slice(_f * _h + _h, _f * _h + _h + _h * _c)] = torch.randn(_h * _c, ScalarType.Float64, generator: g) * Math.Sqrt(1.0 / _h);
        }
        else theta[TensorIndex.Slice(0, _f * _c)] = torch.randn(_f * _c, ScalarType.Float64, generator: g) * Math.Sqrt(1.0 / _f);
        InitialParameters = theta;
    }

    public Tensor InitialParameters { get; }

    Tensor Logits(Tensor theta, Tensor x)
    {
        if (_h == 0)
        {
            var w = theta.narrow(0, 0, _f * _c).view(_c, _f);
            return x.matmul(w.t()) + theta.narrow(0, _f * _c, _c);
        }
        long o = 0;
        var w1 = theta.narrow(0, o, _f * _h).view(_h, _f); o += _f * _h;
        var b1 = theta.narrow(0, o, _h); o += _h;
        var w2 = theta.narrow(0, o, _h * _c).view(_c, _h); o += _h * _c;
        var b2 = theta.narrow(0, o, _c);
        return torch.nn.functional.relu(x.matmul(w1.t()) + b1).matmul(w2.t()) + b2;
    }

    public Tensor Loss(Tensor theta) => torch.nn.functional.cross_entropy(Logits(theta, _xTrain), _yTrain);

    public double Performance(Tensor theta)
    {
        using var scope = torch.NewDisposeScope();
        return (Logits(theta, _xTest).argmax(1) == _yTest).to_type(ScalarType.Float64).mean().item<double>();
    }
}
