using ConceptSuite.Core.Methods;
using ConceptSuite.Discovery.Abstractions;

namespace ConceptSuite.Discovery.Fitting;

/// <summary>A validated dictionary request: its final name, its method and its options, parsed once.</summary>
public sealed record PlannedDictionary(int Index, string Name, string Method, int Concepts, MethodEntry<IConceptDictionary> Entry, OptionValues Options)
{
    /// <summary>A new, unfitted dictionary of this plan.</summary>
    public IConceptDictionary Create() => Entry.Create(Options);
}
