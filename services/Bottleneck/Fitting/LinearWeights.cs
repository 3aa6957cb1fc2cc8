using Tensor = TorchSharp.torch.Tensor;

namespace ConceptSuite.Bottleneck.Fitting;

/// <summary>A linear map y = x Wᵀ + b.</summary>
public sealed record LinearWeights(Tensor Weight, Tensor Bias);
