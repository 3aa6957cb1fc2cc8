using ConceptSuite.Generate.Model;

namespace ConceptSuite.Generate.Editing;

/// <summary>
/// A concept-erasure method: turns a spec into key sets for the closed-form edit, which it then
/// solves with its <see cref="ClosedForm"/> weights (<see cref="ConceptErasers.Apply"/>).
/// </summary>
public interface IConceptEraser
{
    /// <summary>λ and the erase and preserve weights of the closed form.</summary>
    ClosedFormOptions ClosedForm { get; }

    EditPlan Plan(ConceptGenerator generator, EraseSpec spec);
}
