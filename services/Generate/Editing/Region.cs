using static TorchSharp.torch;

namespace ConceptSuite.Generate.Editing;

/// <summary>A prompt generated inside a mask [H,W] (bool).</summary>
public sealed record Region(string Prompt, Tensor Mask);
