namespace ConceptSuite.Embedding.Models;

/// <summary>What a backbone runs on after decoding: channels and size, plus its own normalisation.</summary>
/// <param name="Preprocessing">What the backbone does to 0-255 pixels before its first layer.</param>
public sealed record InputSpec(int Channels, int Height, int Width, string Preprocessing);
