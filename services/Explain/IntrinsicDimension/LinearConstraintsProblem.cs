using TorchSharp;
using static TorchSharp.torch;

namespace ConceptSuite.Explain.IntrinsicDimension;

/// <summary>
/// The toy problem of Li et al. 2018 (§2): D parameters, m independent linear constraints
/// (constraint i: the parameters of block i sum to bᵢ), loss Σᵢ (aᵢ·θ − bᵢ)². The solution set has
/// dimension D − m, so the intrinsic dimension is m. Performance is the fraction of constraints met
/// within <see cref="Tolerance"/>.
/// </summary>
public sealed class LinearConstraintsProblem : ILeastSquaresProblem
{
    readonly Tensor _a, _b;

    public LinearConstraintsProblem(int parameters = 1000, int constraints = 10, double tolerance = 1e-2)
    {
        if (constraints < 1 || parameters < constraints) throw new Contracts.InvalidInputException("constraints", "need 1 ≤ constraints ≤ parameters");
        Tolerance = tolerance;
        var a = torch.zeros([constraints, parameters], ScalarType.Float64);
        int block = parameters / constraints;
        for (int i = 0; i < constraints; i++) a[i, TensorIndex.Slice(i * block, i == constraints - 1 ? parameters : (i + 1) * block)] = 1.0;
        _a = a;
        _b = torch.arange(1, constraints + 1, ScalarType.Float64);
        InitialParameters = torch.zeros(parameters, ScalarType.Float64);
    }

    public double Tolerance { get; }
    public Tensor InitialParameters { get; }
    public Tensor Design => _a;
    public Tensor Target => _b;
    public Tensor Loss(Tensor theta) => (_a.matmul(theta) - _b).square().sum();
    public double Performance(Tensor theta) => ((_a.matmul(theta) - _b).abs() <= Tolerance).to_type(ScalarType.Float64).mean().item<double>();
}
