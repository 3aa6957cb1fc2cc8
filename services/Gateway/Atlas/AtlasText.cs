namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// A top-activating token of a text feature in its context: the WordPiece tokens around it, each
/// one's activation of the feature (for highlighting), which of them is the top token, its value,
/// and whether the text goes on before or after the shown window.
/// </summary>
public sealed record AtlasText(IReadOnlyList<string> Tokens, IReadOnlyList<double> Activations, int Highlight, double Value,
    bool CutBefore, bool CutAfter);
